"""One check cycle: the only module that knows every part and wires them together.

tracker -> commands -> sources -> analysis -> reviewer -> stopper -> report -> tracker. A
failure while handling one run is reported for that run; the others are still checked, and
the state is saved before every signal so that a crash never signals twice (and after the
commands, so that a crash never runs one twice).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .checking import Observation, observe, review, started_at
from .clock import Clock
from .config import Config
from .errors import TrainingCheckError
from .evidence import stop_evidence
from .fetching import SourcesFor
from .github_commands import StopOrder, take_commands
from .history_store import HistoryStore
from .model import StopOutcome, StopRecord, Verdict
from .report.render import render_dashboard, render_verdict
from .report.views import RunView
from .reporting import review_text, run_view, trend_and_baseline
from .reviewers import Decision, Review, Reviewer
from .schedule import is_due, reschedule
from .sources.interface import RunState as RunLife
from .state import RunState, State, state_to_json
from .state_budget import fit_state
from .stoppers import stopper_for
from .trackers import Tracker
from .trackers.interface import CommitState
from .transport import Transport
from .watchlist import WatchEntry

# Lives a run reports that end it: it is reported once and no longer checked.
ENDED = (RunLife.FINISHED, RunLife.CRASHED, RunLife.FAILED)
# A run whose stop ended this way is not checked again.
FINAL_STOPS = (StopOutcome.STOPPED, StopOutcome.ALREADY_GONE, StopOutcome.REFUSED)
# Room after the dashboard text for the state's HTML comment around its JSON, and for what
# the tracker keeps beside it (GitHub: the time up to which comments were read).
STATE_OVERHEAD = 200


@dataclass(frozen=True)
class Parts:
    """Everything a cycle talks to, chosen by the CLI (local mode) or the Action."""

    config: Config
    tracker: Tracker
    clock: Clock
    reviewer: Reviewer | None
    transport_for: Callable[[str | None], Transport]  # host name (None: this machine)
    sources_for: SourcesFor  # the sources of a run, in the order they are tried
    store: HistoryStore  # each run's history between cycles
    # Saves a stop's evidence with the run (W&B notes and tag); None where there is nowhere to.
    evidence: Callable[[WatchEntry, str], None] | None = None


@dataclass(frozen=True)
class CycleReport:
    """What a cycle did, for the terminal, the job summary and the tests."""

    state: State
    views: tuple[RunView, ...]
    verdicts: tuple[tuple[str, str], ...]  # (run name, markdown) posted this cycle
    notices: tuple[str, ...]
    dashboard: str
    stopped: tuple[str, ...]
    checked: tuple[str, ...]


@dataclass
class _Cycle:
    """One cycle's working state; `state` is what a write-ahead save persists."""

    parts: Parts
    now: float
    state: State
    dashboard: str = "<!-- training-check:dashboard -->\n(cycle in progress)\n"
    views: dict[str, RunView] = field(default_factory=dict)
    verdicts: list[tuple[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def handle(self, entry: WatchEntry, forced: bool) -> None:
        """Check one run if it is due, act on the verdict and record what happened."""
        run = self.state.run(entry.name)
        if run.first_seen is None:
            run = replace(run, first_seen=self.now)
            self.state = self.state.with_run(entry.name, run)
        if run.finished or (run.stop is not None and run.stop.outcome in FINAL_STOPS):
            return
        if run.stop is not None and run.stop.outcome in (StopOutcome.IN_PROGRESS, StopOutcome.FAILED):
            action = self.stop(entry, None, run.stop.by, run.stop.reason)  # finish what was begun
            self.post(entry, run_view(entry, self.state.run(entry.name), None, action, self.now))
            return
        # A snoozed run is still checked on its schedule (PRODUCT §5): only stops and verdict
        # comments wait, so its own snooze must not postpone it.
        if not (forced or is_due(replace(run, snoozed_until=None), self.now)):
            return
        self.checked.append(entry.name)
        obs = observe(entry, self.parts.config, self.now, self.parts.sources_for(entry), self.parts.store)
        if obs.error is None:
            self.judged(entry, obs, run)
            if obs.life in ENDED:
                self.ended(entry, obs)
            return
        run = replace(run, last_error=obs.error, last_checked=self.now)
        intervals = self.parts.config.schedule.intervals_minutes
        self.state = self.state.with_run(entry.name, reschedule(run, True, self.now, intervals))

    def judged(self, entry: WatchEntry, obs: Observation, run: RunState) -> None:
        """Review, act and reschedule a run that was read and judged."""
        assert obs.judgment is not None and obs.history is not None
        previous_verdict = run.last_verdict
        answer, run = review(entry, obs, run, reviewer=self.parts.reviewer, config=self.parts.config, now=self.now)
        verdict = obs.judgment.verdict
        self.state = self.state.with_run(entry.name, self.recorded(run, obs, answer))
        snoozed = run.snoozed_until is not None and self.now < run.snoozed_until
        stop_by = "rule" if verdict is Verdict.BAD else None
        if answer is not None and answer.decision is Decision.STOP:
            stop_by = "reviewer"
        action = _action(answer, verdict, snoozed, stop_by, entry)
        if stop_by and not snoozed and entry.stop is not None:
            reason = obs.judgment.reasons[0].name if obs.judgment.reasons else "judged bad"
            action = f"{self.stop(entry, obs, stop_by, reason)} {review_text(answer)}"
        view = run_view(entry, self.state.run(entry.name), obs, action.strip(), self.now)
        self.views[entry.name] = view
        first_fine = previous_verdict is None and verdict is Verdict.FINE
        changed = verdict is not previous_verdict and not first_fine
        # A bad run that cannot be stopped (no handle, dry run) is reported once, not every check.
        stop = self.state.run(entry.name).stop
        stop_news = stop is not None and (run.stop is None or stop.outcome is not run.stop.outcome)
        if not snoozed and (changed or stop_news or (answer is not None and answer.available)):
            self.post(entry, view)

    def recorded(self, run: RunState, obs: Observation, answer: Review | None) -> RunState:
        """The run's state after this check: verdict, schedule and dashboard figures."""
        assert obs.judgment is not None and obs.history is not None
        verdict = obs.judgment.verdict
        top = obs.judgment.reasons[0].detail if obs.judgment.reasons else None
        anomaly = verdict is Verdict.BAD or (verdict is Verdict.UNSURE and not _continue(answer))
        intervals = self.parts.config.schedule.intervals_minutes
        run = reschedule(run.with_verdict(verdict, top), anomaly, self.now, intervals)
        trend, vs_base = trend_and_baseline(obs)
        loss = obs.history.get(obs.names.loss)
        return replace(
            run,
            last_step=obs.judgment.step,
            last_loss=float(loss.values[-1]) if len(loss) else None,
            last_checked=self.now,
            last_trend=trend,
            last_vs_baseline=vs_base,
            last_error=None,
            review_decision=answer.decision.value if answer else None,
            review_reason=answer.reason if answer else None,
        )

    def stop(self, entry: WatchEntry, obs: Observation | None, by: str, reason: str) -> str:
        """Stop the run through its stopper, saving the record before every signal."""
        assert entry.stop is not None
        run = self.state.run(entry.name)
        config = self.parts.config
        transport = self.parts.transport_for(entry.host)
        grace, dry_run = config.actions.grace_seconds, not config.actions.stop
        stopper = stopper_for(entry.stop.kind, transport, self.parts.clock, grace, dry_run)

        def save(record: StopRecord) -> None:
            current = self.state.run(entry.name)
            self.state = self.state.with_run(entry.name, replace(current, stop=record))
            self.parts.tracker.publish(self.dashboard, self.state)

        began = started_at(obs.history if obs else None, run) or self.now
        record = stopper.stop(entry.stop, began, run.stop, save, by, reason)
        save(record)
        who = "by rule" if by == "rule" else f"by {by}"
        if record.outcome is StopOutcome.DRY_RUN:
            return f"Would stop {who} ({reason}), but `actions.stop` is false (dry run): nothing was signalled."
        if record.outcome not in (StopOutcome.STOPPED, StopOutcome.ALREADY_GONE):
            return f"Stop {who} ({reason}): {record.outcome.value}. {record.detail}"
        self.stopped.append(entry.name)
        return f"Stopped {who} ({reason}). {record.detail} {self.save_evidence(entry, record, obs)}".strip()

    def save_evidence(self, entry: WatchEntry, record: StopRecord, obs: Observation | None) -> str:
        """Record the stop with the run itself where that is possible (W&B notes and tag)."""
        if self.parts.evidence is None or entry.wandb is None:
            return ""
        text = stop_evidence(entry.name, entry.wandb_url, record, obs.judgment if obs else None)
        try:
            self.parts.evidence(entry, text)
        except TrainingCheckError as e:
            self.notices.append(f"`{entry.name}`: the stop evidence could not be saved to W&B ({e.message})")
            return f"The evidence could not be saved to W&B: {e.message}."
        return "Evidence saved to the W&B run's notes, tagged `training-check:stopped`."

    def ended(self, entry: WatchEntry, obs: Observation) -> None:
        """A run that finished, crashed or failed: reported once, then no longer checked."""
        run = replace(self.state.run(entry.name), finished=True, ended_as=obs.life.value)
        self.state = self.state.with_run(entry.name, run)
        action = f"The run says it has {obs.life.value}; it is no longer checked."
        self.post(entry, run_view(entry, run, obs, action, self.now))

    def stop_now(self, entry: WatchEntry, order: StopOrder) -> None:
        """A `/stop` command: the automatic stop's path, then its verdict comment."""
        run = self.state.run(entry.name)
        if run.first_seen is None:
            self.state = self.state.with_run(entry.name, replace(run, first_seen=self.now))
        action = self.stop(entry, None, order.by, order.reason)
        self.post(entry, run_view(entry, self.state.run(entry.name), None, action, self.now))

    def report_statuses(self, entries: Iterable[WatchEntry], before: State) -> None:
        """The commit status of each run linked to a pull request, set only when it changed."""
        for entry in entries:
            if entry.pr is None:
                continue
            state, description = commit_status(self.state.run(entry.name))
            old = before.runs.get(entry.name)
            if old is None or commit_status(old)[0] != state:
                try:
                    self.parts.tracker.set_status(entry, state, description)
                except TrainingCheckError as e:
                    self.notices.append(f"`{entry.name}`: {e.message}")

    def post(self, entry: WatchEntry, view: RunView) -> None:
        """Post a verdict text where the tracker shows it."""
        self.views[entry.name] = view
        markdown = render_verdict(view)
        self.parts.tracker.post_verdict(entry, markdown)
        self.verdicts.append((entry.name, markdown))


def run_cycle(parts: Parts, force: Collection[str] = (), event: Mapping[str, Any] | None = None) -> CycleReport:
    """Check every due run (and those named in `force`, or all with "all"), then report.

    `event` is the payload of an `issue_comment` trigger: its command is handled with the
    others posted since the last cycle (by a tracker that takes commands).
    """
    now = parts.clock.now()
    watch = parts.tracker.read_watch_list()
    loaded, notice = parts.tracker.load_state()
    orders = take_commands(parts.tracker, parts.config, watch, loaded, now=now, event=event)
    watch = orders.watch  # /watch and /unwatch may have changed it
    cycle = _Cycle(parts, now, orders.state)
    cycle.notices += [n for n in (notice, *watch.problems, *orders.notices) if n]
    if orders.handled:  # the commands are marked handled before anything can crash
        parts.tracker.publish(cycle.dashboard, cycle.state)
    for entry in watch.entries:
        try:
            if entry.name in orders.stops:
                cycle.stop_now(entry, orders.stops[entry.name])
            else:
                cycle.handle(entry, forced=bool({"all", entry.name} & {*force, *orders.forced}))
        except TrainingCheckError as e:  # one run's trouble never stops the others
            cycle.notices.append(f"`{entry.name}`: {e.message}")
    cycle.report_statuses(watch.entries, loaded)
    views = [cycle.views.get(e.name) or run_view(e, cycle.state.run(e.name), None, "", now) for e in watch.entries]
    # The state is hidden at the dashboard's end: leave it room within GitHub's limit.
    state = fit_state(cycle.state, {e.name for e in watch.entries})
    dashboard = render_dashboard(views, cycle.notices, now, reserve=len(state_to_json(state)) + STATE_OVERHEAD)
    parts.tracker.publish(dashboard, state)
    late = orders.finish(state, views, cycle.notices, now)  # 🚀 for /stop, /check; /status replies
    return CycleReport(
        state,
        tuple(views),
        tuple(cycle.verdicts),
        (*cycle.notices, *late),
        dashboard,
        tuple(cycle.stopped),
        tuple(cycle.checked),
    )


def commit_status(run: RunState) -> tuple[CommitState, str]:
    """The commit status of a run: failure when bad or stopped, success when healthy or
    finished, pending while watching or unsure."""
    if run.stop is not None:
        return "failure", f"{run.stop.outcome.value} (by {run.stop.by}): {run.stop.reason}"
    if run.finished:
        return "success", "finished"
    at = f" at step {run.last_step:,}" if run.last_step is not None else ""
    if run.last_verdict is Verdict.BAD:
        return "failure", f"bad{at}: {run.last_reason or 'judged bad'}"
    if run.last_verdict is Verdict.FINE:
        return "success", f"healthy{at}"
    if run.last_verdict is Verdict.UNSURE:
        return "pending", f"unsure{at}: {run.last_reason or 'watching'}"
    return "pending", "watching"


def _continue(answer: Review | None) -> bool:
    return answer is not None and answer.decision is Decision.CONTINUE


def _action(answer: Review | None, verdict: Verdict, snoozed: bool, stop_by: str | None, entry: WatchEntry) -> str:
    """The "Done:" line when no stop is sent."""
    said = review_text(answer)
    if stop_by and snoozed:
        return f"Not stopped: the run is snoozed. {said}"
    if stop_by and entry.stop is None:
        return f"Cannot stop it: the watch list gives no `stop:` handle for this run. {said}"
    if verdict is Verdict.FINE:
        return "Nothing to do: the run looks healthy."
    return said or "Nothing done."
