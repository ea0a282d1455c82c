"""AMQP topic patterns (``worker.#``, ``task.*``), for brokers that match them themselves."""

from __future__ import annotations

__all__ = ["topic_matches", "topic_to_glob"]


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""

    def match(pat: list[str], words: list[str]) -> bool:
        if not pat:
            return not words
        head, rest = pat[0], pat[1:]
        if head == "#":
            return any(match(rest, words[i:]) for i in range(len(words) + 1))
        if not words:
            return False
        return (head in {"*", words[0]}) and match(rest, words[1:])

    return match(pattern.split("."), key.split("."))


def topic_to_glob(pattern: str) -> str:
    """A Redis glob matching at least what the topic ``pattern`` matches (as kombu writes it).

    ``#`` and ``*`` both become ``*``, which also crosses dots: ``task.*`` admits
    ``task.a.b`` too, so a receiver that must be exact checks with :func:`topic_matches`.
    """
    return pattern.replace("#", "*")
