"""The stopper contract, and the write-ahead escalation every stopper is built on.

A stop is a ladder of actions (SIGINT, SIGTERM, SIGKILL; Ctrl-C, kill the session; ...),
each followed by a wait for the training to end. The record of the stop is saved before
every action is taken, so a checker that crashes half-way resumes from the saved record in
its next cycle and never repeats an action it may already have taken.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..clock import Clock
from ..errors import TrainingCheckError
from ..model import StopOutcome, StopRecord, StopStep, StopTarget
from ..transport import Transport, TransportError

# Outcomes after which a stop is over: a record with one of them is never acted on again.
FINAL: frozenset[StopOutcome] = frozenset(
    {StopOutcome.STOPPED, StopOutcome.ALREADY_GONE, StopOutcome.REFUSED, StopOutcome.DRY_RUN}
)
EXITED = "exited"  # the step recorded when the end of the training was observed

Save = Callable[[StopRecord], None]


class StopError(TrainingCheckError):
    """A stop command failed or its answer made no sense (recorded as outcome FAILED)."""


class Stopper(Protocol):
    """Stops one kind of training handle, gracefully, at most once per action."""

    def stop(  # noqa: PLR0917 - the project's Stopper contract is positional
        self,
        target: StopTarget,
        run_started_at: float,
        previous: StopRecord | None,
        save: Save,
        by: str,
        reason: str,
    ) -> StopRecord:
        """Stop `target` (or resume `previous`) and return the final record.

        `save` receives the updated record before every action is taken and once the
        outcome is known. A `previous` record with a final outcome is returned unchanged
        without running anything; otherwise the actions it records are never taken again.
        """
        ...


class Liveness(enum.Enum):
    """What a look at the target found."""

    ALIVE = "alive"  # our training is still running
    GONE = "gone"  # it has ended (or is a zombie)
    REPLACED = "replaced"  # the handle now names something else: never act on it


@dataclass(frozen=True)
class Probe:
    """One look at the target; `why` explains a REPLACED (or a GONE, when useful)."""

    state: Liveness
    why: str = ""


@dataclass(frozen=True)
class Rung:
    """One action of the ladder and how long to wait for the training to end after it."""

    action: str  # the StopStep name, e.g. "SIGINT"
    send: Callable[[], None]
    wait: float


@dataclass(frozen=True)
class Plan:
    """How to stop one target: its ladder, how to look at it, and words for the account."""

    noun: str  # "pid 48121", "tmux session train"
    subject: str  # "the process", "the job": who exits
    rungs: Sequence[Rung]
    probe: Callable[[], Probe]


def clock_time(at: float) -> str:
    """`at` (epoch seconds) as a time of day in UTC, e.g. "03:14:05 UTC"."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(at))


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def account(steps: Sequence[StopStep], plan: Plan) -> str:
    """The steps as one line for people: what was sent when, and how the training ended."""
    parts: list[str] = []
    last: StopStep | None = None
    for step in steps:
        if step.action == EXITED and last is not None:
            parts.append(_exit_phrase(step.at - last.at, last.action, plan))
            continue
        if last is None:
            parts.append(f"{step.action} to {plan.noun} at {clock_time(step.at)}")
        else:
            parts.append(f"no exit within {_secs(step.at - last.at)}")
            parts.append(f"{step.action} at {clock_time(step.at)}")
        last = step
    return "; ".join(parts)


def _exit_phrase(after: float, action: str, plan: Plan) -> str:
    if action == plan.rungs[0].action:
        return f"{plan.subject} exited after {_secs(after)}, so the trainer had time to save a checkpoint"
    if action == "SIGKILL":
        return f"{plan.subject} was gone {_secs(after)} later (killed: no checkpoint could be saved then)"
    return f"{plan.subject} exited {_secs(after)} later; check that its last checkpoint is recent"


class StopLog:
    """The record being written: every change goes through `save` at once."""

    def __init__(self, record: StopRecord, save: Save) -> None:
        self.record = record
        self._save = save

    def add(self, action: str, at: float) -> None:
        """Record `action` (and save it) — called BEFORE the action is taken."""
        self.record = replace(self.record, steps=(*self.record.steps, StopStep(action, at)))
        self._save(self.record)

    def sent_at(self, action: str) -> float:
        """When `action` was recorded (it must have been)."""
        return next(s.at for s in self.record.steps if s.action == action)

    def finish(self, outcome: StopOutcome, detail: str, exited_at: float | None = None) -> StopRecord:
        """Set the outcome (with the observed exit, if any), save and return the record."""
        steps = self.record.steps
        if exited_at is not None:
            steps = (*steps, StopStep(EXITED, exited_at))
        sentence = detail if detail.endswith(".") else f"{detail}."
        self.record = replace(self.record, steps=steps, outcome=outcome, detail=sentence)
        self._save(self.record)
        return self.record


class Escalation:
    """Climbs a plan's ladder with a write-ahead log; shared by all stoppers."""

    def __init__(self, clock: Clock, poll_seconds: float, dry_run: bool) -> None:
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.dry_run = dry_run

    def carry_out(
        self, plan: Plan, target: StopTarget, previous: StopRecord | None, save: Save, *, by: str, reason: str
    ) -> StopRecord:
        """The `Stopper.stop` contract for `plan`; nothing runs for a finished `previous`."""
        if previous is not None:
            if previous.target != target:
                raise ValueError(f"the previous record is for {previous.target}, not {target}")
            if previous.outcome in FINAL:
                return previous
        log = StopLog(previous or StopRecord(target, self.clock.now(), by, reason), save)
        try:
            return self._preview(plan, log) if self.dry_run else self._climb(plan, log)
        except (TransportError, StopError) as e:
            done = account(log.record.steps, plan)
            return log.finish(StopOutcome.FAILED, f"{done + '; ' if done else ''}could not finish: {e}")

    def _preview(self, plan: Plan, log: StopLog) -> StopRecord:
        # A dry run still looks (read-only), so it never claims it would stop a dead process.
        seen = plan.probe()
        if seen.state is not Liveness.ALIVE:
            return self._ended(plan, log, seen)
        first, *rest = plan.rungs
        later = "".join(
            f", then {r.action} if it is still running {_secs(p.wait)} later"
            for p, r in zip(plan.rungs, rest, strict=False)
        )
        detail = f"would send {first.action} to {plan.noun}{later}; nothing was sent (actions.stop is false)"
        return log.finish(StopOutcome.DRY_RUN, detail)

    def _climb(self, plan: Plan, log: StopLog) -> StopRecord:
        for rung in plan.rungs:
            if not log.record.sent(rung.action):
                # Looked at again before every action: it may have exited, or its PID been reused.
                seen = plan.probe()
                if seen.state is not Liveness.ALIVE:
                    return self._ended(plan, log, seen)
                log.add(rung.action, self.clock.now())
                rung.send()
            seen = self._wait(plan, log.sent_at(rung.action) + rung.wait)
            if seen.state is not Liveness.ALIVE:
                return self._ended(plan, log, seen)
        last = plan.rungs[-1]
        detail = f"{account(log.record.steps, plan)}; still running {_secs(last.wait)} after {last.action}"
        return log.finish(StopOutcome.FAILED, detail)

    def _wait(self, plan: Plan, deadline: float) -> Probe:
        """Look until the training is no longer alive or `deadline` passed (at least once)."""
        while True:
            seen = plan.probe()
            remaining = deadline - self.clock.now()
            if seen.state is not Liveness.ALIVE or remaining <= 0:
                return seen
            self.clock.sleep(min(self.poll_seconds, remaining))

    def _ended(self, plan: Plan, log: StopLog, seen: Probe) -> StopRecord:
        """The target is no longer ours to act on: say why, with the right outcome."""
        if not log.record.steps:
            if seen.state is Liveness.REPLACED:
                return log.finish(StopOutcome.REFUSED, f"{seen.why}; nothing was sent")
            why = f" ({seen.why})" if seen.why else ""
            return log.finish(StopOutcome.ALREADY_GONE, f"{plan.noun} had already ended{why}; nothing was sent")
        now = self.clock.now()
        done = account((*log.record.steps, StopStep(EXITED, now)), plan)
        # Why it is gone matters only when the handle now names another process or session.
        note = f" ({seen.why})" if seen.state is Liveness.REPLACED else ""
        return log.finish(StopOutcome.STOPPED, f"{done}{note}", exited_at=now)


class PlannedStopper:
    """A stopper that builds a `Plan` for its target and carries it out write-ahead.

    Subclasses only say how to stop their kind of target (`plan`); the waiting, the
    saving before every action and the resuming after a crash are shared.
    """

    def __init__(
        self,
        transport: Transport,
        clock: Clock,
        grace_seconds: float,
        dry_run: bool = False,
        *,
        start_tolerance_seconds: float = 60.0,
        poll_seconds: float = 0.2,
        verify_seconds: float = 5.0,
    ) -> None:
        self.transport = transport
        self.grace_seconds = grace_seconds
        # A process or session that started this much after the run began is not its trainer.
        self.start_tolerance_seconds = start_tolerance_seconds
        self.verify_seconds = verify_seconds
        self._escalation = Escalation(clock, poll_seconds, dry_run)

    def stop(  # noqa: PLR0917 - the project's Stopper contract is positional
        self,
        target: StopTarget,
        run_started_at: float,
        previous: StopRecord | None,
        save: Save,
        by: str,
        reason: str,
    ) -> StopRecord:
        """Stop `target` gracefully; see `Stopper.stop` for the contract."""
        plan = self.plan(target, run_started_at)
        return self._escalation.carry_out(plan, target, previous, save, by=by, reason=reason)

    def plan(self, target: StopTarget, run_started_at: float) -> Plan:
        """The ladder for `target` (building it runs no command)."""
        raise NotImplementedError
