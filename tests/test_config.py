"""The config file: defaults, a full example, precise errors, and the shipped JSON Schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import pytest
import yaml

from training_check.analysis import Thresholds
from training_check.config import (
    ActionSettings,
    CommandSettings,
    ConfigError,
    HostConfig,
    ScheduleSettings,
    config_schema,
    load_config,
    parse_config,
)
from training_check.errors import TrainingCheckError
from training_check.reviewers import ReviewerSettings

FULL = """
tracking_issue:
  label: training-check
tracker:
  local: watch.md
hosts:
  bastion:
    hostname: bastion.example.org
  gpu1:
    hostname: gpu1.example.org
    user: alice
    port: 2222
    key_env: TRAINING_CHECK_SSH_KEY
    known_hosts_env: TRAINING_CHECK_KNOWN_HOSTS
    proxy_jump: bastion
checks:
  loss: train/loss
  eval: auto
  spike_factor: 12
  plateau_min_steps: 2000
  lr_schedule: {kind: cosine, peak: 3.0e-4, warmup_steps: 100, total_steps: 10000}
schedule:
  intervals_minutes: [10, 20, 30, 60]
  workflow: .github/workflows/training-check.yml
  rewrite_cron: true
reviewer:
  model: gpt-5.5
  api: chat
  reasoning_effort: high
  base_url: http://127.0.0.1:8000/v1
  api_key_env: OPENAI_API_KEY
  may_stop: false
  max_reviews_per_run_per_day: 3
actions:
  stop: false
  grace_seconds: 30
commands:
  permission: maintain
"""


def test_no_file_gives_defaults() -> None:
    config = load_config(None)
    assert config.checks.thresholds == Thresholds()
    assert config.reviewer is None
    assert config.actions == ActionSettings(stop=True, grace_seconds=120.0)
    assert config.schedule == ScheduleSettings()
    assert config.commands == CommandSettings("write")


def test_full_example(tmp_path: Path) -> None:
    path = tmp_path / "training-check.yml"
    path.write_text(FULL)
    config = load_config(path)
    assert config.tracker.local == "watch.md"
    assert config.hosts["gpu1"] == HostConfig(
        "gpu1",
        "gpu1.example.org",
        "alice",
        2222,
        "TRAINING_CHECK_SSH_KEY",
        "TRAINING_CHECK_KNOWN_HOSTS",
        "bastion",
    )
    assert config.checks.metrics.loss == "train/loss"
    assert config.checks.thresholds.spike_factor == 12.0
    assert config.checks.thresholds.plateau_min_steps == 2000
    schedule = config.checks.thresholds.lr_schedule
    assert schedule is not None and schedule.peak == 3e-4 and schedule.total_steps == 10000
    assert config.reviewer == ReviewerSettings(
        api="chat", base_url="http://127.0.0.1:8000/v1", may_stop=False, max_reviews_per_run_per_day=3
    )
    assert config.actions == ActionSettings(stop=False, grace_seconds=30.0)
    assert config.commands.permission == "maintain"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("checks: {spike_factor: lots}", "checks.spike_factor", "a number >= 0"),
        ("checks: {spike_factr: 3}", "checks.spike_factr", "one of"),
        ("checks: {plateau_min_steps: 1.5}", "checks.plateau_min_steps", "a whole number"),
        ("checks: {spike_factor: .nan}", "checks.spike_factor", "a number >= 0"),
        ("checks: {loss: ''}", "checks.loss", "a non-empty text"),
        ("checks: {lr_schedule: {kind: cosine}}", "checks.lr_schedule.peak", "peak learning rate"),
        ("checks: {lr_schedule: {peak: 1, kind: step}}", "checks.lr_schedule.kind", "one of"),
        ("actions: {stop: yes please}", "actions.stop", "true or false"),
        ("actions: [stop]", "actions", "a mapping"),
        ("schedule: {intervals_minutes: [30, 10]}", "schedule.intervals_minutes", "a rising list"),
        ("reviewer: {api: completions}", "reviewer.api", "one of"),
        ("reviewer: {reasoning_effort: extreme}", "reviewer.reasoning_effort", "one of"),
        ("commands: {permission: owner}", "commands.permission", "one of"),
        ("hosts: {gpu1: {user: alice}}", "hosts.gpu1.hostname", "DNS name"),
        ("hosts: {gpu1: {hostname: a, proxy_jump: nowhere}}", "hosts.gpu1.proxy_jump", "another entry"),
        ("hosts: {gpu1: {hostname: a, key_env: 'my key'}}", "hosts.gpu1.key_env", "environment variable"),
        ("hosts: {'gpu 1': {hostname: a}}", "hosts.gpu 1", "letters"),
        ("check: {}", "check", "one of"),
    ],
)
def test_errors_name_the_key_and_what_is_expected(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_load(text), "cfg.yml")
    error = caught.value
    assert error.key == key
    assert error.message.startswith(f"cfg.yml: `{key}` ")
    assert error.tip is not None and expected in error.tip
    # The shipped schema rejects the same document, so editors flag it too.
    if key not in {"schedule.intervals_minutes", "hosts.gpu1.proxy_jump"} and ".nan" not in text:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(text), config_schema())


def test_unreadable_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TrainingCheckError, match="no such config file"):
        load_config(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("checks: [\n")
    with pytest.raises(TrainingCheckError, match="not valid YAML") as caught:
        load_config(bad)
    assert "\n" not in caught.value.message


def test_schema_accepts_the_full_example_and_knows_every_setting() -> None:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(FULL), schema)
    sections = schema["properties"]
    checks = set(sections["checks"]["properties"])
    assert {f.name for f in dataclasses.fields(Thresholds)} <= checks
    host_keys = set(sections["hosts"]["additionalProperties"]["properties"])
    assert {f.name for f in dataclasses.fields(HostConfig)} - {"name"} == host_keys
    reviewer = sections["reviewer"]["oneOf"][1]["properties"]
    assert {f.name for f in dataclasses.fields(ReviewerSettings)} == set(reviewer)
