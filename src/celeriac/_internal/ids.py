"""Random ids in ``uuid4`` text form, made without building a ``uuid.UUID``.

Task ids, delivery tags and lease tokens are minted once per message; ``str(uuid4())``
spends half of its two microseconds on the ``UUID`` object. :func:`uuid4_text` returns
the same form (version 4, RFC 4122 variant) from the same randomness, ``os.urandom``.
"""

from __future__ import annotations

import os

__all__ = ["uuid4_text"]


def uuid4_text() -> str:
    """A random version-4 UUID as ``str(uuid.uuid4())`` writes it."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant: RFC 4122
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
