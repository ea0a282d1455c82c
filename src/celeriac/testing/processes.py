"""Real worker processes for end-to-end tests and the demo.

:class:`WorkerProcess` starts ``python -m celeriac ... worker`` in a subprocess, waits
(on its log output, not on a timer) until it says it is ready, and stops it with a
signal, waiting for it to exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """A ``celeriac worker`` subprocess.

    Args:
        app: The ``-A`` value.
        args: Extra worker arguments (``-Q``, ``-c`` ...).
        cwd: Directory to run in (the app must be importable from there).
        global_args: Options placed before ``worker`` (``-b``, ``--result-backend``).
        env: Extra environment variables.
        log_path: Where to copy the worker's output (kept in memory too).

    """

    #: What the process is, in errors, and the log line that says it is ready.
    kind = "worker"
    ready_line = " ready."

    def __init__(
        self,
        app: str,
        args: Sequence[str] = (),
        *,
        cwd: str | Path | None = None,
        global_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        self.command = [
            sys.executable,
            "-m",
            "celeriac",
            "-A",
            app,
            *global_args,
            "worker",
            "-l",
            "INFO",
            *args,
        ]
        self.cwd = str(cwd) if cwd is not None else None
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = Path(log_path) if log_path is not None else None
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        """Start the worker and wait until it logs ``ready.``.

        Raises:
            RuntimeError: it exited or did not become ready in time (its output is included).

        """
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.wait_for_line(self.ready_line, timeout):
            self.kill()
            raise RuntimeError(f"{self.kind} did not start:\n" + self.output)
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        log = self.log_path.open("w") if self.log_path is not None else None
        try:
            for line in self.process.stdout:
                if log is not None:
                    log.write(line)
                    log.flush()
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        finally:
            self.process.stdout.close()
            if log is not None:
                log.close()
            with self._changed:
                self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything the worker printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> bool:
        """Wait until a line containing ``text`` appears; ``False`` on timeout or exit."""

        def seen() -> bool:
            return any(text in line for line in self.lines)

        def finished() -> bool:
            return (
                self.process is not None
                and self.process.poll() is not None
                and not (self._reader is not None and self._reader.is_alive())
            )

        with self._changed:
            self._changed.wait_for(lambda: seen() or finished(), timeout)
            return seen()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return code

    def kill(self) -> None:
        """SIGKILL the worker (no clean-up)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
