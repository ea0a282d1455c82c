"""celeriac.states: names, sets and precedence (spec section 5)."""

from __future__ import annotations

import celery.states  # type: ignore[import-untyped]
import pytest

from celeriac import states

NAMES = [
    "PENDING",
    "RECEIVED",
    "STARTED",
    "SUCCESS",
    "FAILURE",
    "REVOKED",
    "REJECTED",
    "RETRY",
    "IGNORED",
]


@pytest.mark.parametrize("name", NAMES)
def test_state_names_are_their_own_value(name: str) -> None:
    assert getattr(states, name) == name
    assert getattr(celery.states, name) == name


def test_sets() -> None:
    assert frozenset({"SUCCESS", "FAILURE", "REVOKED"}) == states.READY_STATES
    assert frozenset({"PENDING", "RECEIVED", "STARTED", "REJECTED", "RETRY"}) == (
        states.UNREADY_STATES
    )
    assert frozenset({"RETRY", "FAILURE", "REVOKED"}) == states.EXCEPTION_STATES
    assert frozenset({"FAILURE", "REVOKED"}) == states.PROPAGATE_STATES
    all_states = {"PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED"}
    assert frozenset(all_states) == states.ALL_STATES


@pytest.mark.parametrize(
    "name",
    ["READY_STATES", "UNREADY_STATES", "EXCEPTION_STATES", "PROPAGATE_STATES", "ALL_STATES"],
)
def test_sets_match_celery(name: str) -> None:
    assert getattr(states, name) == getattr(celery.states, name)


def test_ready_and_unready_do_not_overlap() -> None:
    assert not states.READY_STATES & states.UNREADY_STATES
    assert states.PROPAGATE_STATES <= states.READY_STATES
    assert states.PROPAGATE_STATES <= states.EXCEPTION_STATES


def test_precedence_order_strongest_first() -> None:
    order = [
        "SUCCESS",
        "FAILURE",
        "PROGRESS",  # any custom state
        "REVOKED",
        "STARTED",
        "RECEIVED",
        "REJECTED",
        "RETRY",
        "PENDING",
    ]
    ranks = [states.precedence(state) for state in order]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


def test_custom_states_rank_together() -> None:
    assert states.precedence("PROGRESS") == states.precedence("UPLOADING")
    assert states.precedence(None) == states.precedence("PROGRESS")


@pytest.mark.parametrize(
    "state",
    [
        "SUCCESS",
        "FAILURE",
        "PROGRESS",
        "REVOKED",
        "STARTED",
        "RECEIVED",
        "REJECTED",
        "RETRY",
        "PENDING",
    ],
)
def test_precedence_matches_celery(state: str) -> None:
    assert states.precedence(state) == celery.states.precedence(state)
