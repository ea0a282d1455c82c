"""Canvas: signatures and the workflows built from them (group, chain, chord, chunks).

Everything here is data in Celery's wire shape (``dict`` subclasses), applied through
the app; nothing here imports worker, broker or backend code.
"""

from celeriac.canvas.signature import Signature, maybe_signature, signature, subtask
from celeriac.canvas.workflows import chain, chord, chunks, group, xmap, xstarmap

__all__ = [
    "Signature",
    "chain",
    "chord",
    "chunks",
    "group",
    "maybe_signature",
    "signature",
    "subtask",
    "xmap",
    "xstarmap",
]
