"""The delivery state machine under every interleaving hypothesis finds (DESIGN.md §2).

A `RuleBasedStateMachine` drives the real sending use case (`Courier`: claims, group-committed
hand-overs, the domain's decisions, one recorded unit of work per batch, the reaper) over the
in-memory stores. Senders are scripted: each message waits for a rule to hand it over, answer it
(sent, refused with or without Retry-After, rejected, in doubt), or crash its whole batch; the
clock moves, leases expire, the reaper runs and stalled senders answer late.

Beside the stores the test keeps the truth: how many hand-overs of each delivery may have let its
message leave (a hand-over whose send was then certainly refused did not), and how many were
certainly delivered. Invariants: no delivery is ever handed over again after a hand-over whose
message may have left; nothing is lost (a delivery is pending, sending under a lease, or final); a
final status never changes (so `unknown` is never claimed again); attempts never exceed the
budget; `unknown` only ever follows a recorded hand-over of that very claim, `sent` that claim's
own accepted message, `failed` that claim's own rejection or last refusal; each final delivery
has exactly one outcome event; and in the end everything still open is delivered once.

Settings: 400 examples of up to 50 steps, a retry budget of 3 attempts and a 60 s lease.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.notifications.adapters.memory import InMemoryNotificationsUnitOfWork
from services.notifications.adapters.memory_deliveries import InMemoryDeliveryLedger
from services.notifications.adapters.memory_tables import NotificationTables
from services.notifications.domain.delivery import (
    FINAL,
    Ambiguous,
    Claim,
    NotHandedOver,
    Permanent,
    Retryable,
    RetryBudget,
    Status,
    holds,
    is_abandoned,
)
from services.notifications.domain.office import OfficeHours
from services.notifications.domain.outgoing import Outgoing
from services.notifications.domain.routing import NewDelivery
from services.notifications.domain.unit import StaffMember, Unit
from services.notifications.handlers.sending import Courier, SendingPolicy
from services.notifications.ports import HandOver, nothing_to_record
from shared.clock import FixedClock

BUDGET = RetryBudget(max_attempts=3, max_backoff_s=300.0)
LEASE = timedelta(seconds=60)
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DIGEST_RECIPIENTS = ("h0", "h1")
BATCH: contextvars.ContextVar[Batch] = contextvars.ContextVar("batch")


def unit() -> Unit:
    people = {f"p{n}": StaffMember(f"p{n}", f"P {n}", f"p{n}@x.example") for n in range(400)}
    people |= {h: StaffMember(h, h, f"{h}@x.example") for h in DIGEST_RECIPIENTS}
    office = OfficeHours(time(0), time(23, 59), UTC, frozenset[date]())
    return Unit(people=people, teams={}, head_of_unit="p0", office=office)


@dataclass(eq=False)
class Script:
    """One message in flight: its claims, and the commands the rules give its sender."""

    batch: Batch
    address: str
    claims: list[Claim]
    commands: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    waiting: bool = False
    handed_over: bool = False  # the sender passed its hand-over: the message may leave
    answered: bool = False  # the sender returned or raised (or was refused at its hand-over)


@dataclass(eq=False)
class Batch:
    """One `Courier.send` call: the messages a worker sends concurrently."""

    scripts: dict[str, Script] = field(default_factory=dict)
    task: asyncio.Task[list[Status]] | None = None


class ScriptedSender:
    """Sends nothing by itself: each step is a rule's command (or, when draining, hand over and
    succeed at once)."""

    def __init__(self, machine: DeliveryMachine) -> None:
        self.machine = machine
        self.draining = False

    async def send(self, address: str, message: Outgoing, hand_over: HandOver = nothing_to_record) -> None:
        if self.draining:
            await hand_over()
            self.machine.left(self.machine.handed_over_to(address), sent=True)
            return
        script = BATCH.get().scripts[address]
        while True:
            script.waiting = True
            command = await script.commands.get()
            script.waiting = False
            if command == "hand_over":
                try:
                    await hand_over()
                except NotHandedOver:
                    script.answered = True
                    self.machine.may_fail(script.claims, last_attempt_only=True)
                    raise
                script.handed_over = True
                self.machine.left([c.delivery_id for c in script.claims], sent=False)
                continue
            script.answered = True
            if command == "sent":
                self.machine.delivered.update(c.delivery_id for c in script.claims)
                self.machine.sent.update(script.claims)
                return
            if command != "ambiguous":
                self.machine.refused(script)
            self.machine.may_fail(script.claims, last_attempt_only=command != "permanent")
            if command == "retryable":
                raise Retryable("451 try later")
            if command.startswith("wait"):
                raise Retryable("429", float(command.removeprefix("wait ")))
            if command == "permanent":
                raise Permanent("550 no such user")
            raise Ambiguous("connection lost mid-send")


class FlakyLedger(InMemoryDeliveryLedger):
    """The in-memory ledger whose next hand-over can fail: before it is recorded (the database is
    away), or after (the commit happened, the answer was lost)."""

    fail_next: str | None = None

    def __init__(self, tables: NotificationTables) -> None:
        super().__init__(tables)
        self.recorded: set[Claim] = set()  # every claim whose hand-over the store accepted

    async def hand_over(self, claims: list[Claim]) -> set[int]:
        fail, self.fail_next = self.fail_next, None
        if fail == "before":
            raise ConnectionError("database away")
        held = await super().hand_over(claims)
        self.recorded.update(c for c in claims if c.delivery_id in held)
        if fail == "after":
            raise ConnectionError("connection lost before the answer")
        return held


def machine_holds(tables: NotificationTables, claim: Claim) -> bool:
    return holds(tables.deliveries[claim.delivery_id].state, claim)


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tables = NotificationTables()
        self.clock = FixedClock(START)
        self.ledger = FlakyLedger(self.tables)
        self.scripted = ScriptedSender(self)
        self.jitter = 0.5
        policy = SendingPolicy(batch_size=3, lease=LEASE, budget=BUDGET)
        self.courier = Courier(
            self.ledger, lambda: InMemoryNotificationsUnitOfWork(self.tables), {"email": self.scripted},
            unit(), self.clock, policy, jitter=lambda: self.jitter,
        )  # fmt: skip
        self.created = 0
        self.batches: list[Batch] = []
        self.may_have_left: Counter[int] = Counter()  # hand-overs whose message may have left
        self.delivered: Counter[int] = Counter()  # messages certainly delivered
        self.finals: dict[int, tuple[Status, int]] = {}
        self.sent: set[Claim] = set()  # claims whose own message was accepted
        self.failable: set[Claim] = set()  # claims whose own attempt may end `failed`

    # --- the truth -------------------------------------------------------------------------

    def left(self, delivery_ids: list[int], *, sent: bool) -> None:
        """A hand-over passed: the message may leave (and, if `sent`, was delivered)."""
        self.may_have_left.update(delivery_ids)
        if sent:
            self.delivered.update(delivery_ids)

    def handed_over_to(self, address: str) -> list[int]:
        """The deliveries a message to `address` was just handed over for (when draining)."""
        recipient = address.split("@")[0]
        found = [
            row.state for row in self.tables.deliveries.values()
            if row.new.recipient == recipient and row.state.status is Status.SENDING and row.state.handed_over
        ]  # fmt: skip
        self.sent.update(s.claim for s in found)
        return [s.id for s in found]

    def reap_now(self) -> None:
        """The reaper, with the claims it may fail noted (abandoned before hand-over, last attempt)."""
        abandoned = [
            row.state.claim for row in self.tables.deliveries.values()
            if is_abandoned(row.state, self.clock.now()) and not row.state.handed_over
        ]  # fmt: skip
        self.may_fail(abandoned, last_attempt_only=True)
        self.run(self.courier.reap_abandoned())

    def may_fail(self, claims: list[Claim], *, last_attempt_only: bool) -> None:
        """These claims' own attempts failed: rejected, or refused on the last attempt."""
        self.failable.update(c for c in claims if not last_attempt_only or c.attempt == BUDGET.max_attempts)

    def refused(self, script: Script) -> None:
        """The other side certainly refused a handed-over message: it did not leave after all."""
        if script.handed_over:
            for claim in script.claims:
                self.may_have_left[claim.delivery_id] -= 1

    # --- driving ---------------------------------------------------------------------------

    def run(self, work: object) -> object:
        return self.loop.run_until_complete(work)

    def settle(self) -> None:
        async def quiet() -> None:
            for _ in range(200):
                await asyncio.sleep(0)

        self.run(quiet())
        for batch in self.batches:
            if batch.task is not None and batch.task.done() and not batch.task.cancelled():
                batch.task.result()  # a bug in the use case surfaces here
            live = batch.task is not None and not batch.task.done()
            assert not live or all(s.waiting or s.answered for s in batch.scripts.values())

    def start(self, messages: list[list[object]]) -> None:
        batch = Batch()
        for message in messages:
            first = message[0]
            address = f"{first.recipient}@x.example"
            claims = [d.claim for d in message]
            for claim in claims:
                assert claim.delivery_id not in self.finals, "a final delivery was claimed again"
            batch.scripts[address] = Script(batch, address, claims)

        async def send() -> list[Status]:
            BATCH.set(batch)
            return await self.courier.send(messages)

        batch.task = self.loop.create_task(send())
        self.batches.append(batch)
        self.settle()

    def command(self, script: Script, command: str) -> None:
        script.commands.put_nowait(command)
        self.settle()

    # --- rules -----------------------------------------------------------------------------

    @initialize(held=st.lists(st.booleans(), min_size=1, max_size=4))
    def some_deliveries(self, held: list[bool]) -> None:
        for h in held:
            self.create(h, DIGEST_RECIPIENTS[0])

    @rule(held=st.booleans(), digest=st.sampled_from(DIGEST_RECIPIENTS))
    def create(self, held: bool, digest: str) -> None:
        self.created += 1
        recipient = digest if held else f"p{self.created}"
        new = NewDelivery(
            uuid.UUID(int=self.created), recipient, "email", "referral.assigned", f"R{self.created}", "f",
            f"n{self.created}", "text", not_before=self.clock.now(), held=held,
        )  # fmt: skip

        async def add() -> None:
            async with InMemoryNotificationsUnitOfWork(self.tables) as uow:
                await uow.deliveries.add([new])
                await uow.commit()

        self.run(add())

    @rule(what=st.sampled_from(["email", "email", "email", "digest"]), limit=st.sampled_from([1, 1, 2, 3]))
    def claim(self, what: str, limit: int) -> None:
        """A worker claims due email (up to `limit`, each its own message) or one digest, and
        starts sending them as one batch."""
        if what == "email":
            claimed = self.run(self.ledger.claim_email(self.clock.now(), limit, LEASE))
            if claimed:
                self.start([[d] for d in claimed])
            return

        async def claim_digest() -> list[object]:
            async with InMemoryNotificationsUnitOfWork(self.tables) as uow:
                found = await uow.deliveries.claim_digest(self.clock.now(), LEASE)
                await uow.commit()
            return list(found)

        digest = self.run(claim_digest())
        if digest:
            self.start([digest])

    def live(self, *, handed_over: bool | None = None) -> list[Script]:
        """Senders waiting for their next command (only those handed over, or not, if asked)."""
        return [
            s for b in self.batches if b.task is not None and not b.task.done() for s in b.scripts.values()
            if s.waiting and not s.answered and handed_over in (None, s.handed_over)
        ]  # fmt: skip

    @precondition(lambda self: self.live())
    @rule(
        pick=st.integers(0, 99),
        action=st.sampled_from(["hand over", "hand over", "answer", "answer", "crash"]),
        failure=st.sampled_from([None, None, "before", "after"]),
        answer=st.sampled_from(["sent", "retryable", "permanent", "ambiguous", "wait"]),
        retry_after=st.integers(0, 400),
        jitter=st.floats(0, 1),
    )
    def sender(
        self, pick: int, action: str, failure: str | None, answer: str, retry_after: int, jitter: float
    ) -> None:
        """A sender's next step. It reaches DATA or the POST and hands over (the ledger may be away,
        or lose its answer); or the other side answers: accepted (only ever after the hand-over),
        refused (perhaps with Retry-After), rejected, or in doubt; or its worker process dies."""
        candidates = self.live()
        script = candidates[pick % len(candidates)]
        if action == "crash":
            script.batch.task.cancel()  # every send of the batch stops; nothing more is recorded
            self.settle()
        elif not script.handed_over and (action == "hand over" or answer == "sent"):
            self.ledger.fail_next = failure
            self.command(script, "hand_over")
            self.ledger.fail_next = None
            event(f"hand-over {failure or 'recorded'}{'' if script.handed_over else ': refused'}")
        else:
            self.answer_with(script, f"wait {retry_after}" if answer == "wait" else answer, jitter)

    def answer_with(self, script: Script, answer: str, jitter: float) -> None:
        self.jitter = jitter
        late = any(not machine_holds(self.tables, c) for c in script.claims)
        where = "after" if script.handed_over else "before"
        event(f"answer {answer.split()[0]} {where} hand-over{', late (claim taken back)' if late else ''}")
        before = {c: self.tables.deliveries[c.delivery_id].state for c in script.claims}
        now = self.clock.now()
        self.command(script, answer)
        if not script.batch.task.done():
            return  # recorded with the rest of its batch
        for claim, state in before.items():
            after = self.tables.deliveries[claim.delivery_id].state
            retried = after.status is Status.PENDING and state.status is Status.SENDING
            if retried and state.attempts == claim.attempt and answer.startswith("wait"):
                assert after.next_attempt_at == now + timedelta(seconds=float(answer.split()[1]))
            elif retried and state.attempts == claim.attempt and answer in ("retryable", "ambiguous"):
                wait = min(BUDGET.max_backoff_s, 2.0**claim.attempt) * (0.5 + 0.5 * jitter)
                assert after.next_attempt_at == now + timedelta(seconds=wait)

    @rule(seconds=st.sampled_from([0, 1, 30, 59, 61, 200, 400]), reap=st.booleans())
    def advance(self, seconds: int, reap: bool) -> None:
        """Time passes (leases expire, backoffs end); the reaper may run, and a stalled sender's
        late answer may meet what it made of its claim."""
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        if not reap:
            return
        before = {i: row.state for i, row in self.tables.deliveries.items()}
        self.reap_now()
        for i, row in self.tables.deliveries.items():
            if before[i].status is Status.SENDING and row.state.status is not Status.SENDING:
                when = "after" if before[i].handed_over else "before"
                event(f"reaped {when} hand-over: {row.state.status}")

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def no_message_is_handed_over_again_after_it_may_have_left(self) -> None:
        assert all(n <= 1 for n in self.may_have_left.values()), self.may_have_left
        assert all(n <= 1 for n in self.delivered.values()), self.delivered

    @invariant()
    def every_delivery_is_pending_sending_or_final_within_its_budget(self) -> None:
        assert len(self.tables.deliveries) == self.created
        for i, row in self.tables.deliveries.items():
            s = row.state
            assert s.attempts <= BUDGET.max_attempts
            assert s.status is not Status.PENDING or s.attempts < BUDGET.max_attempts
            assert s.status is not Status.SENDING or s.lease_until is not None  # the reaper finds it
            unsent = s.status in (Status.PENDING, Status.FAILED)
            if unsent or (s.status is Status.SENDING and not s.handed_over):
                assert self.may_have_left[i] == 0, (i, s)
            if s.status is Status.SENT:  # by its own claim's message
                assert self.delivered[i] == 1 and Claim(i, s.attempts) in self.sent, (i, s)
            if s.status is Status.FAILED:  # by its own claim's failure
                assert Claim(i, s.attempts) in self.failable, (i, s)
            if s.status is Status.UNKNOWN:  # only a claim whose hand-over was recorded
                assert Claim(i, s.attempts) in self.ledger.recorded, (i, s)

    @invariant()
    def a_final_status_never_changes_and_has_one_outcome_event(self) -> None:
        events = Counter(
            (json.loads(payload)["data"]["source_event_id"], json.loads(payload)["event_type"])
            for _, _, _, payload in self.tables.outbox
        )
        for i, row in self.tables.deliveries.items():
            s = row.state
            if i in self.finals:
                assert (s.status, s.attempts) == self.finals[i], "a final delivery moved"
            elif s.status in FINAL:
                self.finals[i] = (s.status, s.attempts)
            source = str(row.new.source_event_id)
            outcomes = {k: n for k, n in events.items() if k[0] == source}
            expected = {(source, f"notification.{s.status}"): 1} if s.status in FINAL else {}
            assert outcomes == expected, (i, s, outcomes)

    def teardown(self) -> None:
        """Crash what is in flight, then let time, the reaper and a working relay finish the rest:
        every delivery ends final, and none that may have left before is sent again."""
        try:
            for batch in self.batches:
                if batch.task is not None and not batch.task.done():
                    batch.task.cancel()
            self.settle()
            self.scripted.draining = True
            for _ in range(4 * BUDGET.max_attempts):
                self.clock.set(self.clock.now() + timedelta(seconds=1000))
                self.reap_now()
                while self.run(self.courier.send_due()):
                    pass
            assert all(row.state.status in FINAL for row in self.tables.deliveries.values())
            self.no_message_is_handed_over_again_after_it_may_have_left()
            self.every_delivery_is_pending_sending_or_final_within_its_budget()
            self.a_final_status_never_changes_and_has_one_outcome_event()
        finally:
            self.loop.close()


DeliveryMachine.TestCase.settings = settings(
    max_examples=400, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_the_delivery_state_machine_never_sends_twice_and_loses_nothing = DeliveryMachine.TestCase
