"""The declaration of one setting: :func:`setting` and the :class:`Setting` descriptor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

if TYPE_CHECKING:
    from celeriac.app.config import Settings

__all__ = ["CALLABLE", "NONE", "Setting", "Spec", "setting"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    default: Any
    types: tuple[type, ...]
    env: tuple[str, ...]
    old: str | None
    doc: str


class Setting(Generic[T]):
    """A declared setting; a descriptor on :class:`Settings` returning its typed value.

    The name is the attribute the setting is assigned to in the class body.
    """

    def __init__(
        self, default: T, types: tuple[type, ...], env: tuple[str, ...], old: str | None, doc: str
    ) -> None:
        self.spec = Spec("", default, types, env, old, doc)

    def __set_name__(self, owner: type, name: str) -> None:
        self.spec = Spec(name, *astuple_tail(self.spec))

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...
    def __get__(self, instance: Settings | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        value: T = instance[self.spec.name]
        return value

    def __set__(self, instance: Settings, value: T) -> None:
        instance[self.spec.name] = value


def astuple_tail(spec: Spec) -> tuple[Any, ...]:
    """The fields of ``spec`` after its name."""
    return spec.default, spec.types, spec.env, spec.old, spec.doc


def setting(
    default: T,
    *types: type,
    env: tuple[str, ...] = (),
    old: str | None = None,
    doc: str,
) -> Setting[T]:
    """Declare a setting of the given types (the default's type when none are given)."""
    return Setting(default, types or (type(default),), env, old, doc)


NONE = type(None)
CALLABLE = cast("type", Callable)  # isinstance() works with the ABC; mypy wants a type
