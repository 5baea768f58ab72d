"""The command line as a user runs it: real subprocesses, real files, exit codes and messages."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training_check.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False,
    )  # fmt: skip


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout


def test_config_schema_is_valid_json_schema() -> None:
    done = cli("config-schema")
    assert done.returncode == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(done.stdout))


def test_bad_config_is_one_error_and_a_tip(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("checks:\n  spike_factor: lots\n")
    (tmp_path / "w.md").write_text("```yaml\nruns: []\n```\n")
    done = cli("check", "--config", str(config), "--tracker", str(tmp_path / "w.md"))
    assert done.returncode == 2
    assert_no_traceback(done)
    assert done.stderr.splitlines() == [
        f"ERROR: {config}: `checks.spike_factor` is 'lots'",
        "TIP: `checks.spike_factor` should be a number >= 0",
    ]


def test_check_without_a_watch_list_says_how_to_give_one(tmp_path: Path) -> None:
    done = cli("check", cwd=tmp_path)
    assert done.returncode == 2
    assert_no_traceback(done)
    assert "ERROR: no watch list" in done.stderr and "--tracker" in done.stderr


def test_check_one_cycle_in_local_mode(tmp_path: Path) -> None:
    log = tmp_path / "run-a.jsonl"
    rows = [{"_step": s, "train/loss": 2 * math.exp(-s / 200) + 0.2} for s in range(1000)]
    rows += [{"_step": 1000, "train/loss": "NaN"}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    watch = tmp_path / "watch.md"
    watch.write_text(f"Our runs.\n\n```yaml\nruns:\n  - log: {log}\n  - log: {tmp_path}/gone.csv\n```\n")
    done = cli("check", "--tracker", str(watch))
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done)
    assert "run-a" in done.stdout and "bad" in done.stdout
    assert "gone" in done.stdout and "unreachable" in done.stdout
    dashboard = (tmp_path / "watch.dashboard.md").read_text()
    assert dashboard.startswith("<!-- training-check:dashboard -->")
    assert "<!-- training-check:state {" in dashboard
    reports = (tmp_path / "watch.reports.md").read_text()
    assert "`run-a` bad" in reports and "no `stop:` handle" in reports
    assert watch.read_text().startswith("Our runs.")  # the human file is never written


def test_replay_reports_unreadable_files_and_still_replays_the_others(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("step,loss\n" + "".join(f"{s},{3 - s / 1000}\n" for s in range(0, 500, 10)))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    done = cli("replay", str(empty), str(good), "--every", "100", "--format", "json")
    assert done.returncode == 1
    assert_no_traceback(done)
    assert f"ERROR: {empty} is empty" in done.stderr
    steps = [json.loads(line)["step"] for line in done.stdout.splitlines()]
    assert steps == [100, 200, 300, 400, 490]


def test_replay_rejects_a_bad_every() -> None:
    done = cli("replay", "x.jsonl", "--every", "0")
    assert done.returncode == 2 and "must be at least 1" in done.stderr


def test_the_demo_stops_only_the_diverging_trainer() -> None:
    done = cli("demo", "--seconds", "25", timeout=90)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert_no_traceback(done)
    out = done.stdout
    assert "healthy  still running" in out
    assert "spike    still running" in out
    assert "diverge  stopped — got SIGINT first and saved its checkpoint" in out


def test_benchmarks_run_in_quick_mode() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "analysis.py"), "--quick"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "judge 10,000-step history: median" in done.stdout
    assert "replay 3 files" in done.stdout
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sources.py"), "--quick"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for part in (".wandb 2,000 rows", "W&B API 2,000 steps", "SFTP .wandb 2,000 rows", "grown in place"):
        assert part in done.stdout
