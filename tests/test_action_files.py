"""The action's files: the real linters accept them, and they keep the rules they are written by.

actionlint (with shellcheck on the workflows' scripts) and check-jsonschema with GitHub's
schemas (shipped inside it: no network) run as CI would run them; a broken file is shown to
fail each of them, so a linter that silently checks nothing cannot pass. The structural
tests hold what the linters cannot see: no `${{ }}` inside a script (script injection),
every input declared, passed as the env var `training-check action` reads, and masked; the
example workflow's triggers, concurrency, permissions and cron line; the README's copy of it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from training_check.command_parsing import parse_command
from training_check.commands import WatchCommand
from training_check.config import parse_config
from training_check.cron import current_cron, rewrite_cron
from training_check.watchlist import parse_watch_list

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
EXAMPLE = ROOT / ".github" / "workflows" / "training-check.yml"
# The env var through which each input reaches `training-check action` (src/training_check/action.py).
ENV_OF_INPUT = {
    "github-token": "GITHUB_TOKEN",
    "workflow-token": "TRAINING_CHECK_WORKFLOW_TOKEN",
    "config": "TRAINING_CHECK_CONFIG",
    "wandb-api-key": "WANDB_API_KEY",
    "openai-api-key": "OPENAI_API_KEY",
    "dry-run": "TRAINING_CHECK_DRY_RUN",
    "run": "TRAINING_CHECK_RUN",
}
SECRET_INPUTS = ("github-token", "workflow-token", "wandb-api-key", "openai-api-key")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
INPUT_REFERENCE = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.S | re.M)


def tool(name: str) -> str:
    """A linter installed beside this Python (the `test` extras) or on PATH; the test fails without it."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: pip install -e '.[test]'")
    return found


def run_tool(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a linter; its exit code and output are the caller's to judge."""
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """actionlint on `files`, with shellcheck on their `run:` scripts."""
    return run_tool(tool("actionlint"), "-no-color", "-oneline", "-shellcheck", tool("shellcheck"), *files, cwd=cwd)


def schema_check(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its builtin (offline) schemas."""
    return run_tool(tool("check-jsonschema"), "--builtin-schema", schema, *files)


def load(path: Path) -> dict[str, Any]:
    """A YAML file as a mapping."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` of a workflow (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "`on:` should be a mapping of triggers"
    return on


def action_steps() -> list[dict[str, Any]]:
    """The steps of the composite action."""
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    return list(action["runs"]["steps"])


def check_step() -> dict[str, Any]:
    """The step that runs `training-check action`."""
    found = [s for s in action_steps() if s.get("run", "").strip() == "training-check action"]
    assert len(found) == 1, "exactly one step should run `training-check action`"
    return found[0]


def example_action_step() -> dict[str, Any]:
    """The example workflow's step that uses this repository's action."""
    (job,) = load(EXAMPLE)["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("uses") == "./"]
    return dict(step)


def every_script() -> list[tuple[str, str]]:
    """(where, script) of every `run:` in the action and the workflows."""
    scripts = [(f"action.yml: {s.get('name', s.get('id'))}", s["run"]) for s in action_steps() if "run" in s]
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            scripts += [(f"{path.name}: {job_id}", s["run"]) for s in job.get("steps", []) if "run" in s]
    return scripts


def readme_section() -> str:
    """The README's "Use it on GitHub" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Use it on GitHub\n(.*?)^## ", text, re.S | re.M)
    assert match is not None, "README.md has no `## Use it on GitHub` section"
    return match.group(1)


# ---- the real linters ---------------------------------------------------------------------


def test_the_workflows_are_found() -> None:
    assert EXAMPLE in WORKFLOWS and ROOT / ".github" / "workflows" / "ci.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_accepts_the_workflow(workflow: Path) -> None:
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_match_githubs_schema() -> None:
    result = schema_check("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_action_matches_githubs_schema() -> None:
    result = schema_check("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("where_script", every_script(), ids=lambda ws: ws[0])
def test_shellcheck_accepts_every_script(where_script: tuple[str, str]) -> None:
    # actionlint does not read action.yml's scripts: shellcheck them as the `bash` they run in.
    where, script = where_script
    result = subprocess.run(
        [tool("shellcheck"), "--shell=bash", "-"], input=script, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"


def test_the_linters_reject_broken_files(tmp_path: Path) -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    injected = tmp_path / "injected.yml"
    step = '      - run: echo "${{ github.event.comment.body }}"\n'
    injected.write_text(example.replace("    steps:\n", "    steps:\n" + step), encoding="utf-8")
    result = actionlint(injected, cwd=tmp_path)
    assert result.returncode != 0 and "untrusted" in result.stdout, result.stdout + result.stderr

    misspelt = tmp_path / "misspelt.yml"
    misspelt.write_text(example.replace("runs-on:", "runs_on:"), encoding="utf-8")
    assert schema_check("vendor.github-workflows", misspelt).returncode != 0

    no_shell = tmp_path / "action.yml"
    no_shell.write_text(ACTION.read_text(encoding="utf-8").replace("      shell: bash\n", "", 1), encoding="utf-8")
    assert schema_check("vendor.github-actions", no_shell).returncode != 0


# ---- the action -----------------------------------------------------------------------------


@pytest.mark.parametrize("where_script", every_script(), ids=lambda ws: ws[0])
def test_no_expression_inside_a_script(where_script: tuple[str, str]) -> None:
    # `${{ }}` is pasted into the script before bash reads it: values go through `env:` only.
    where, script = where_script
    assert "${{" not in script, f"{where}: pass the value through `env:` instead of `${{{{ }}}}`"


def test_every_script_step_runs_in_bash() -> None:
    for step in action_steps():
        if "run" in step:
            assert step.get("shell") == "bash", f"step {step.get('name')!r} needs `shell: bash`"


def test_every_input_is_declared_used_and_reaches_python_as_its_env_var() -> None:
    declared = set(load(ACTION)["inputs"])
    used = {name for e in EXPRESSION.findall(ACTION.read_text(encoding="utf-8")) for name in INPUT_REFERENCE.findall(e)}
    assert used <= declared, f"undeclared inputs: {sorted(used - declared)}"
    assert declared == set(ENV_OF_INPUT), "every input should reach `training-check action`"
    env = check_step()["env"]
    for name, variable in ENV_OF_INPUT.items():
        assert env.get(variable) == f"${{{{ inputs.{name} }}}}", f"input {name} should arrive as ${variable}"


def test_the_inputs_defaults() -> None:
    inputs = load(ACTION)["inputs"]
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["config"]["default"] == ".github/training-check.yml"
    assert inputs["dry-run"]["default"] == "false"
    assert all(not spec.get("required", False) for spec in inputs.values())


def test_the_outputs_come_from_the_check_step() -> None:
    outputs = load(ACTION)["outputs"]
    step_id = check_step()["id"]
    assert {name: spec["value"] for name, spec in outputs.items()} == {
        name: f"${{{{ steps.{step_id}.outputs.{name} }}}}" for name in ("verdicts", "stopped")
    }


def test_python_311_and_the_actions_own_package() -> None:
    steps = action_steps()
    (python,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"]["python-version"] == "3.11"
    installs = [s for s in steps if "pip install" in s.get("run", "")]
    assert len(installs) == 1 and '"$GITHUB_ACTION_PATH"' in installs[0]["run"]
    assert steps.index(python) < steps.index(installs[0]) < steps.index(check_step())


def run_step(step: dict[str, Any], env: dict[str, str], tmp_path: Path) -> str:
    """Run a step's script as the runner runs `shell: bash`; its stdout."""
    script = tmp_path / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    result = subprocess.run(bash, env={"PATH": path, **env}, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_the_secrets_are_masked_line_by_line_before_anything_else(tmp_path: Path) -> None:
    mask = action_steps()[0]
    assert {f"${{{{ inputs.{name} }}}}" for name in SECRET_INPUTS} == set(mask["env"].values())
    env = {ENV_OF_INPUT[name]: "" for name in SECRET_INPUTS}
    env |= {"GITHUB_TOKEN": "ghs_abc", "OPENAI_API_KEY": "sk-one\nsk-two\n"}  # WANDB_API_KEY empty
    lines = run_step(mask, env, tmp_path).splitlines()
    assert lines == ["::add-mask::ghs_abc", "::add-mask::sk-one", "::add-mask::sk-two"]


def test_the_pip_cache_key_follows_the_actions_pyproject(tmp_path: Path) -> None:
    (step,) = [s for s in action_steps() if s.get("id") == "pip-cache"]
    keys = []
    for text in ((ROOT / "pyproject.toml").read_text(encoding="utf-8"), "[project]\nname = 'changed'\n"):
        action_path = tmp_path / f"action{len(keys)}"
        action_path.mkdir()
        (action_path / "pyproject.toml").write_text(text, encoding="utf-8")
        output = tmp_path / "output"
        output.write_text("", encoding="utf-8")
        env = {"GITHUB_OUTPUT": str(output), "GITHUB_ACTION_PATH": str(action_path), "RUNNER_OS": "Linux"}
        run_step(step, env | {"HOME": str(tmp_path)}, tmp_path)
        values = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
        assert set(values) == {"dir", "key", "restore-key"} and values["dir"]
        assert values["key"].startswith(values["restore-key"]) and values["key"] != values["restore-key"]
        keys.append(values["key"])
    assert keys[0] != keys[1]


# ---- the example workflow -------------------------------------------------------------------


def test_the_example_workflow_has_the_four_triggers() -> None:
    on = triggers(load(EXAMPLE))
    assert set(on) == {"schedule", "issue_comment", "issues", "workflow_dispatch"}
    assert on["issue_comment"] == {"types": ["created"]} and on["issues"] == {"types": ["edited"]}
    assert [set(entry) for entry in on["schedule"]] == [{"cron"}]
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["run"]["type"] == "string" and not inputs["run"].get("required", False)
    assert inputs["dry-run"]["type"] == "boolean" and inputs["dry-run"]["default"] is False


def test_the_example_workflow_never_overlaps_and_holds_the_least_permissions() -> None:
    workflow = load(EXAMPLE)
    assert workflow["concurrency"] == {"group": "training-check", "cancel-in-progress": False}
    assert workflow["permissions"] == {
        "contents": "read",
        "issues": "write",
        "pull-requests": "write",
        "statuses": "write",
    }
    (job,) = workflow["jobs"].values()
    assert "startsWith(github.event.comment.body, '/')" in job["if"]


def test_the_example_workflow_passes_secrets_and_dispatch_inputs() -> None:
    step = example_action_step()
    assert set(step["with"]) <= set(load(ACTION)["inputs"])
    assert step["with"]["wandb-api-key"] == "${{ secrets.WANDB_API_KEY }}"
    assert step["with"]["workflow-token"] == "${{ secrets.TRAINING_CHECK_WORKFLOW_TOKEN }}"
    assert step["with"]["openai-api-key"] == "${{ secrets.OPENAI_API_KEY }}"
    assert "inputs.dry-run" in step["with"]["dry-run"] and "inputs.run" in step["with"]["run"]
    assert step["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in step["env"]}
    assert set(step["env"]) == {"TRAINING_CHECK_SSH_KEY", "TRAINING_CHECK_KNOWN_HOSTS"}


def test_the_bots_cron_rewrite_keeps_the_workflow_valid(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert current_cron(text) == triggers(load(EXAMPLE))["schedule"][0]["cron"]
    rewritten = rewrite_cron(text, "3-59/10 * * * *")
    assert len(set(text.splitlines()) ^ set(rewritten.splitlines())) == 2  # one line changed
    (tmp_path / ".git").mkdir()  # actionlint's project root, where `./` (the action) is looked up
    shutil.copy(ACTION, tmp_path / "action.yml")
    path = tmp_path / ".github" / "workflows" / "training-check.yml"
    path.parent.mkdir(parents=True)
    path.write_text(rewritten, encoding="utf-8")
    assert triggers(load(path))["schedule"] == [{"cron": "3-59/10 * * * *"}]
    result = actionlint(path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert schema_check("vendor.github-workflows", path).returncode == 0


# ---- the README's "Use it on GitHub" ------------------------------------------------------


def test_the_readme_shows_the_example_workflow() -> None:
    shown = [b for b in YAML_BLOCK.findall(readme_section()) if b.startswith("# Watches")]
    assert len(shown) == 1, "the section should show the workflow file"
    readme_workflow = yaml.safe_load(shown[0])
    (job,) = readme_workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("uses", "").endswith("/training-check@v1")]
    step["uses"] = "./"
    assert readme_workflow == load(EXAMPLE)


def test_the_readmes_config_issue_and_command_fit_together() -> None:
    blocks = YAML_BLOCK.findall(readme_section())
    (config_text,) = [b for b in blocks if b.startswith("hosts:")]
    config = parse_config(yaml.safe_load(config_text), "README.md")
    host_secrets = {v for host in config.hosts.values() for v in (host.key_env, host.known_hosts_env)}
    assert host_secrets == set(example_action_step()["env"])

    (issue_body,) = [b for b in blocks if b.startswith("runs:")]
    assert parse_watch_list(f"```yaml\n{issue_body}```\n", "README.md").problems == ()
    (watch,) = re.findall(r"^/watch .*$", readme_section(), re.M)
    command = parse_command(watch)
    assert isinstance(command, WatchCommand) and command.host in config.hosts
