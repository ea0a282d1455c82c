"""How ``celeriac inspect|control COMMAND words...`` turns words into arguments."""

from __future__ import annotations

import click
import pytest

from celeriac.app.remote_commands import COMMANDS
from celeriac.cli.remote import compile_arguments


def words(command: str, *given: str) -> dict[str, object]:
    return compile_arguments(COMMANDS[command], list(given))


def test_revoke_takes_terminate_and_signal_among_the_ids() -> None:
    assert words("revoke", "a", "b") == {"task_id": ["a", "b"]}
    assert words("revoke", "a", "--terminate", "b", "--signal", "SIGKILL") == {
        "task_id": ["a", "b"],
        "terminate": True,
        "signal": "SIGKILL",
    }
    assert words("revoke", "--signal=KILL", "--terminate", "a") == {
        "task_id": ["a"],
        "terminate": True,
        "signal": "KILL",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("a", "--terminat"), "no such option --terminat"),
        (("a", "--signal"), "--signal needs a value"),
        (("a", "--terminate", "--signal", "SIGNOPE"), "no such signal: SIGNOPE"),
    ],
)
def test_bad_revoke_words_are_one_line_errors(given: tuple[str, ...], message: str) -> None:
    with pytest.raises(click.UsageError, match=message):
        words("revoke", *given)


def test_terminate_checks_its_signal() -> None:
    assert words("terminate", "9", "a") == {"signal": "9", "task_id": ["a"]}
    with pytest.raises(click.UsageError, match="bad signal 'TERMINATOR'"):
        words("terminate", "TERMINATOR", "a")


def test_other_commands_refuse_options() -> None:
    with pytest.raises(click.UsageError, match="no such option --terminate"):
        words("rate_limit", "proj.add", "--terminate")
    assert words("pool_grow", "2") == {"n": 2}
    with pytest.raises(click.UsageError, match="takes arguments"):
        words("pool_grow", "2", "3")
