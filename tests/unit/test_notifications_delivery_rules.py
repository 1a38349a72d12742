"""The delivery state machine's rules one by one (domain/delivery.py): pure functions, no stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain.delivery import (
    FINAL,
    TRANSITIONS,
    Ambiguous,
    Claim,
    DeliveryState,
    Finish,
    NotHandedOver,
    Permanent,
    Retryable,
    RetryBudget,
    RetryLater,
    Sent,
    Status,
    TransitionRefused,
    after_lease,
    after_send,
    apply,
    claim,
    hand_over,
    holds,
    is_abandoned,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
BUDGET = RetryBudget(max_attempts=8)


def pending(attempts: int = 0, at: datetime = NOW) -> DeliveryState:
    return DeliveryState(7, at, attempts=attempts)


def sending(attempts: int = 1, *, handed_over: bool = False) -> DeliveryState:
    state = claim(pending(attempts - 1), NOW, LEASE)
    return hand_over(state, state.claim) if handed_over else state


def test_a_claim_takes_a_due_pending_delivery_for_one_more_attempt_under_a_lease():
    state = claim(pending(attempts=2), NOW, LEASE)
    assert (state.status, state.attempts, state.lease_until, state.handed_over) == (
        Status.SENDING, 3, NOW + LEASE, False,
    )  # fmt: skip
    assert state.claim == Claim(7, 3)


@pytest.mark.parametrize("status", [Status.SENDING, *FINAL])
def test_only_a_pending_delivery_can_be_claimed_so_unknown_is_never_resent(status):
    with pytest.raises(TransitionRefused):
        claim(DeliveryState(7, NOW, status=status, attempts=1), NOW, LEASE)


def test_a_delivery_not_yet_due_cannot_be_claimed():
    with pytest.raises(TransitionRefused):
        claim(pending(at=NOW + timedelta(seconds=1)), NOW, LEASE)


def test_a_new_claim_forgets_the_hand_over_of_the_one_before():
    handed = sending(1, handed_over=True)
    again = apply(handed, RetryLater(handed.claim, NOW, "451"))
    assert claim(again, NOW, LEASE).handed_over is False


def test_a_hand_over_is_refused_once_the_claim_no_longer_holds():
    state = sending(2)
    with pytest.raises(NotHandedOver):
        hand_over(state, Claim(7, 1))  # an older claim of the same delivery
    reaped = apply(state, after_lease(state.claim, False, NOW, BUDGET))
    with pytest.raises(NotHandedOver):
        hand_over(reaped, state.claim)
    assert hand_over(hand_over(state, state.claim), state.claim).handed_over  # the same claim again: no-op


@pytest.mark.parametrize(
    ("result", "handed_over", "expected"),
    [
        (Sent(), True, Status.SENT),
        (Permanent("550"), False, Status.FAILED),
        (Permanent("550"), True, Status.FAILED),
        (Ambiguous("timeout"), True, Status.UNKNOWN),
        (Ambiguous("timeout"), False, Status.PENDING),
        (Retryable("451"), False, Status.PENDING),
        (Retryable("451"), True, Status.PENDING),  # a refusal of DATA: certainly not delivered
        (NotHandedOver("database away"), False, Status.PENDING),
    ],
)
def test_what_a_send_means_for_its_claim(result, handed_over, expected):
    decision = after_send(Claim(7, 1), handed_over, result, NOW, BUDGET, 0.5)
    status = decision.status if isinstance(decision, Finish) else Status.PENDING
    assert status is expected


def test_only_a_handed_over_message_can_end_unknown():
    for result in (Sent(), Permanent("x"), Ambiguous("x"), Retryable("x")):
        decision = after_send(Claim(7, 1), False, result, NOW, BUDGET, 0.5)
        assert not (isinstance(decision, Finish) and decision.status is Status.UNKNOWN)


@given(attempt=st.integers(1, 7), jitter=st.floats(0, 1))
def test_a_refusal_waits_an_exponential_backoff_with_at_most_half_taken_off_by_jitter(attempt, jitter):
    decision = after_send(Claim(7, attempt), False, Retryable("451"), NOW, BUDGET, jitter)
    assert isinstance(decision, RetryLater)
    full = min(BUDGET.max_backoff_s, 2.0**attempt)
    assert full / 2 <= (decision.not_before - NOW).total_seconds() <= full


def test_the_backoff_is_capped():
    decision = after_send(Claim(7, 7), False, Retryable("451"), NOW, RetryBudget(8, 60.0), 1.0)
    assert decision == RetryLater(Claim(7, 7), NOW + timedelta(seconds=60), "451")


@given(retry_after=st.floats(0, 3600), jitter=st.floats(0, 1))
def test_retry_after_is_honoured_exactly(retry_after, jitter):
    decision = after_send(Claim(7, 1), True, Retryable("429", retry_after), NOW, BUDGET, jitter)
    assert decision == RetryLater(Claim(7, 1), NOW + timedelta(seconds=retry_after), "429")


def test_a_refusal_on_the_last_attempt_fails_the_delivery():
    decision = after_send(Claim(7, 8), False, Retryable("451"), NOW, BUDGET, 0.5)
    assert decision == Finish(Claim(7, 8), Status.FAILED, "451")
    doubt = after_send(Claim(7, 8), False, Ambiguous("timeout"), NOW, BUDGET, 0.5)
    assert isinstance(doubt, Finish) and doubt.status is Status.FAILED


def test_an_abandoned_claim_is_unknown_after_its_hand_over_and_pending_at_once_before_it():
    assert after_lease(Claim(7, 1), True, NOW, BUDGET) == Finish(
        Claim(7, 1), Status.UNKNOWN, "sender stopped after handing the message over"
    )
    assert after_lease(Claim(7, 1), False, NOW, BUDGET) == RetryLater(
        Claim(7, 1), NOW, "sender stopped before sending"
    )
    assert after_lease(Claim(7, 8), False, NOW, BUDGET) == Finish(
        Claim(7, 8), Status.FAILED, "sender stopped before sending, on the last attempt"
    )


def test_a_claim_is_abandoned_only_once_its_lease_is_over():
    state = sending()
    assert not is_abandoned(state, NOW + LEASE)
    assert is_abandoned(state, NOW + LEASE + timedelta(microseconds=1))
    assert not is_abandoned(pending(), NOW + timedelta(days=1))


def test_a_late_decision_of_a_claim_that_no_longer_holds_is_refused():
    state = sending(2)
    with pytest.raises(TransitionRefused):
        apply(state, Finish(Claim(7, 1), Status.SENT))
    assert not holds(state, Claim(7, 1)) and holds(state, Claim(7, 2))


def test_every_decision_moves_along_an_allowed_transition_and_final_states_stay():
    state = sending(1, handed_over=True)
    for decision in (Finish(state.claim, s) for s in FINAL):
        assert (state.status, apply(state, decision).status) in TRANSITIONS
    assert (state.status, apply(state, RetryLater(state.claim, NOW, "x")).status) in TRANSITIONS
    assert not any(start in FINAL for start, _ in TRANSITIONS)


def test_a_finish_must_be_final():
    with pytest.raises(TransitionRefused):
        Finish(Claim(7, 1), Status.PENDING)
