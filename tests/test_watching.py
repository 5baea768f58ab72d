"""`watch`: cycles that sleep until the next run is due, on an injected clock."""

from __future__ import annotations

import math
from pathlib import Path

from support.clock import FakeClock
from training_check.config import Config
from training_check.cycle import CycleReport, Parts
from training_check.fetching import log_sources
from training_check.history_store import HistoryStore
from training_check.trackers import LocalTracker
from training_check.transport import LocalTransport, Transport
from training_check.watching import IDLE_SECONDS, watch


def local(host: str | None) -> Transport:
    return LocalTransport()


def test_watch_sleeps_until_the_next_run_is_due(tmp_path: Path) -> None:
    log = tmp_path / "good.jsonl"
    log.write_text("".join(f'{{"_step": {s}, "loss": {2 * math.exp(-s / 300) + 0.3}}}\n' for s in range(2000)))
    watch_file = tmp_path / "watch.md"
    watch_file.write_text(f"```yaml\nruns:\n  - log: {log}\n```\n")
    clock = FakeClock()
    reports: list[CycleReport] = []

    def after(report: CycleReport) -> bool:
        reports.append(report)
        return len(reports) < 5

    watch(Parts(Config(), LocalTracker(watch_file), clock, None, local, log_sources(local), HistoryStore(None)), after)

    assert clock.sleeps == [600, 1200, 1800, 3600]  # 10, 20, 30, 60 minutes: never a busy loop
    assert [r.checked for r in reports] == [("good",)] * 5


def test_watch_stops_at_its_deadline_and_idles_when_nothing_is_due(tmp_path: Path) -> None:
    watch_file = tmp_path / "watch.md"
    watch_file.write_text("```yaml\nruns: []\n```\n")
    clock = FakeClock()
    start = clock.now()
    parts = Parts(Config(), LocalTracker(watch_file), clock, None, local, log_sources(local), HistoryStore(None))
    report = watch(parts, lambda r: True, until=start + 1500)
    assert clock.sleeps == [IDLE_SECONDS, IDLE_SECONDS, 1500 - 2 * IDLE_SECONDS]
    assert report.views == ()
