"""Checked by mypy only (tests/unit/test_typing.py); never imported or run.

A line ending in ``# E: <code>`` must produce exactly that mypy error code; every other
line must produce none.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from celeriac import AsyncResult, Celery, EagerResult, Signature, Task, shared_task

app = Celery("typing", set_as_current=False)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="typing.greet", queue="hipri")
def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@app.task(bind=True)
def bound(self: Task[Any, int], x: int) -> int:
    return x + self.request.retries


@shared_task
def shared(x: float) -> float:
    return x * 2


# -- ok -------------------------------------------------------------------------------------

assert_type(add.delay(2, 2), AsyncResult[int])
assert_type(add(2, 2), int)
assert_type(add.s(2, 2), Signature[int])
assert_type(add.si(2, 2), Signature[int])
assert_type(add.delay(2, 2).get(), int)
assert_type(add.delay(2, 2).get(timeout=1, propagate=False), int)
assert_type(add.apply_async((2, 2), countdown=10), AsyncResult[int])
assert_type(add.apply((2, 2)), EagerResult[int])
assert_type(add.AsyncResult("id"), AsyncResult[int])
assert_type(add.s(2).delay(3), AsyncResult[int])
assert_type(greet.delay("you"), AsyncResult[str])
assert_type(greet.delay("you", punctuation="?"), AsyncResult[str])
assert_type(greet("you"), str)
assert_type(bound, Task[..., int])  # bound tasks: the return type is checked, not the args
assert_type(bound.delay(1), AsyncResult[int])
assert_type(bound.delay(1).get(), int)
assert_type(bound.s(1), Signature[int])
assert_type(shared.delay(1.5), AsyncResult[float])
assert_type(app.send_task("typing.add", (2, 2)), AsyncResult[Any])
assert_type(app.AsyncResult("id"), AsyncResult[Any])

# -- errors ---------------------------------------------------------------------------------

add.delay(2, "x")  # E: arg-type
add.delay(2)  # E: call-arg
add(2, 2, 2)  # E: call-arg
add.delay(2, 2, z=3)  # E: call-arg
greet.delay(name=1)  # E: arg-type
greet.delay("you", "?")  # E: call-arg
shared.delay("1.5")  # E: arg-type
assert_type(add.delay(2, 2).get(), str)  # E: assert-type

# -- async def tasks: typed by the awaited value ------------------------------------------


@app.task
async def fetch(url: str) -> bytes:
    return url.encode()


@app.task(name="typing.afetch", queue="io")
async def fetch_with_options(url: str, *, retries: int = 0) -> int:
    return retries


@app.task(bind=True)
async def fetch_bound(self: Task[Any, str], url: str) -> str:
    return url


@shared_task
async def shared_fetch(url: str) -> float:
    return 1.0


assert_type(fetch.delay("u"), AsyncResult[bytes])
assert_type(fetch.delay("u").get(), bytes)
assert_type(fetch.s("u"), Signature[bytes])
assert_type(fetch_with_options.delay("u", retries=2).get(), int)
assert_type(fetch_bound.delay("u").get(), str)
assert_type(shared_fetch.delay("u").get(), float)
fetch.delay(1)  # E: arg-type
fetch_with_options.delay("u", 2)  # E: call-arg
