"""Starting and stopping a set of nodes, reporting progress as Celery's multi does."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

from celeriac.multi.nodes import Node

__all__ = ["Cluster", "signal_name"]

Say = Callable[[str], None]


def signal_name(sig: int) -> str:
    """``TERM`` for SIGTERM."""
    return signal.Signals(sig).name.removeprefix("SIG")


def is_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


class Cluster:
    """The nodes of one ``multi`` command.

    Args:
        nodes: The nodes.
        say: Writes one line (or a part of one when it ends without a newline).
        poll_interval: Seconds between checks while waiting for nodes to stop.
    """

    def __init__(self, nodes: Sequence[Node], say: Say, poll_interval: float = 0.5) -> None:
        self.nodes = list(nodes)
        self.say = say
        self.poll_interval = poll_interval

    def start(self) -> int:
        """Start every node, all at once; 1 if any failed to start.

        Each ``worker --detach`` returns once its daemon has started (or failed to), so
        the nodes start side by side and are reported in order.
        """
        self.say("> Starting nodes...\n")
        launched = [(node, self._launch(node)) for node in self.nodes]
        return int(any([self._report(node, started) for node, started in launched]))

    def start_node(self, node: Node) -> int:
        """Start one node (not a second copy of a running one); its exit status."""
        return self._report(node, self._launch(node))

    def _launch(self, node: Node) -> tuple[str, subprocess.Popen[bytes] | None]:
        """Start ``worker --detach`` for ``node``: (what to say first, the process).

        No process when the node runs already (it is not started twice).
        """
        pid = node.read_pid()
        if pid is not None and is_alive(pid):
            return f"already running (pid {pid})", None
        note = ""
        if pid is not None:
            note = f"removing stale pidfile {node.pidfile} (pid {pid}); "
            os.unlink(node.pidfile)
        for path in (node.pidfile, node.logfile):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return note, subprocess.Popen(node.argv, stderr=subprocess.PIPE)

    def _report(self, node: Node, launched: tuple[str, subprocess.Popen[bytes] | None]) -> int:
        note, process = launched
        self.say(f"\t> {node.name}: {note}")
        if process is None:
            self.say("\n")
            return 0
        _, errors = process.communicate()
        code = process.returncode
        reason = errors.decode(errors="replace").strip().replace("Error: ", "", 1)
        self.say("OK\n" if code == 0 else f"FAILED (exit code {code}): {reason}\n")
        return code

    def _running(self) -> list[tuple[Node, int]]:
        running = []
        for node in self.nodes:
            pid = node.read_pid()
            if pid is None or not is_alive(pid):
                if pid is not None:
                    os.unlink(node.pidfile)
                self.say(f"> {node.name}: DOWN\n")
                continue
            running.append((node, pid))
        return running

    def signal_all(self, sig: int) -> list[tuple[Node, int]]:
        """Send ``sig`` to every running node; the ones signalled."""
        running = self._running()
        if running:
            self.say("> Stopping nodes...\n")
        for node, pid in running:
            self.say(f"\t> {node.name}: {signal_name(sig)} -> {pid}\n")
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                self.say(f"Could not signal {node.name} ({pid}): No such process\n")
        return running

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal every node; do not wait."""
        self.signal_all(sig)
        return 0

    def wait_down(
        self, signalled: list[tuple[Node, int]], on_down: Callable[[Node], None] | None = None
    ) -> None:
        """Wait until each signalled node is gone, printing progress."""
        waiting = dict(signalled)
        if not waiting:
            return
        while waiting:
            plural = "node" if len(waiting) == 1 else "nodes"
            pids = ", ".join(str(pid) for pid in waiting.values())
            self.say(f"> Waiting for {len(waiting)} {plural} -> {pids}...")
            while all(is_alive(pid) for pid in waiting.values()):
                time.sleep(self.poll_interval)
                self.say(".")
            for node, pid in list(waiting.items()):
                if not is_alive(pid):
                    del waiting[node]
                    self.say(f"\n\t> {node.name}: OK\n")
                    if on_down is not None:
                        on_down(node)

    def stopwait(self, sig: int = signal.SIGTERM) -> int:
        """Signal every node and wait until all are gone."""
        self.wait_down(self.signal_all(sig))
        return 0

    def restart(self, sig: int = signal.SIGTERM) -> int:
        """Stop each node and start it again as soon as it is down; 1 if any failed."""
        results: list[int] = []

        def start_again(node: Node) -> None:
            self.say(f"> Restarting node {node.name}: ")
            started = subprocess.run(node.argv, stderr=subprocess.PIPE, check=False)
            reason = started.stderr.decode(errors="replace").strip().replace("Error: ", "", 1)
            code = started.returncode
            self.say("OK\n" if code == 0 else f"FAILED (exit code {code}): {reason}\n")
            results.append(code)

        signalled = self.signal_all(sig)
        stopped = {node for node, _ in signalled}
        self.wait_down(signalled, on_down=start_again)
        for node in self.nodes:
            if node not in stopped:
                results.append(self.start_node(node))
        return int(any(results))

    def kill(self) -> int:
        """SIGKILL every node and wait until none is left."""
        self.wait_down(self.signal_all(signal.SIGKILL))
        for node in self.nodes:
            if os.path.exists(node.pidfile):
                os.unlink(node.pidfile)
        return 0
