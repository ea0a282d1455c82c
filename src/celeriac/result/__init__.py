"""Result handles: one task (:class:`AsyncResult`, :class:`EagerResult`) or several."""

from celeriac.result.group import GroupResult, ResultSet, result_from_tuple
from celeriac.result.single import AsyncResult, EagerResult, assert_will_not_block

__all__ = [
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "ResultSet",
    "assert_will_not_block",
    "result_from_tuple",
]
