"""SessionStopper on real tmux and screen sessions (each test on its own private server)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from stoppers.helpers import RecordingTransport, SaveLog, is_running, trainer_argv, wait_for
from training_check.clock import SystemClock
from training_check.model import StopKind, StopOutcome, StopRecord, StopTarget
from training_check.stoppers import SessionStopper
from training_check.transport import CommandResult

GRACE = 1.0
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
needs_screen = pytest.mark.skipif(shutil.which("screen") is None, reason="screen not installed")


def stopper(transport: RecordingTransport, dry_run: bool = False) -> SessionStopper:
    return SessionStopper(transport, SystemClock(), GRACE, dry_run, poll_seconds=0.05, verify_seconds=3.0)


def actions(record: StopRecord) -> list[str]:
    return [step.action for step in record.steps]


def trainer_pid(folder: Path) -> int:
    assert wait_for((folder / "ready").exists, timeout=10), "the trainer did not start"
    return int((folder / "pid").read_text())


def started() -> float:
    return time.time() - 5


# tmux ---------------------------------------------------------------------------------


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def tmux_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private tmux server for the test (the stopper's commands inherit the environment)."""
    folder = tempfile.mkdtemp(prefix="tc-tmux-")  # short: socket paths are limited
    monkeypatch.setenv("TMUX_TMPDIR", folder)
    monkeypatch.delenv("TMUX", raising=False)  # else tmux would talk to the caller's server
    yield
    tmux("kill-server")
    shutil.rmtree(folder, ignore_errors=True)


def tmux_session(name: str, *command: str) -> None:
    assert tmux("new-session", "-d", "-s", name, "-x", "150", "-y", "40", shlex.join(command)).returncode == 0


@needs_tmux
def test_tmux_ctrl_c_stops_a_trainer_started_from_a_shell(tmux_server: None, tmp_path: Path) -> None:
    tmux_session("train", "bash", "--norc", "--noprofile")
    tmux("send-keys", "-t", "=train:", "-l", shlex.join(trainer_argv(tmp_path)))
    tmux("send-keys", "-t", "=train:", "Enter")
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport).stop(
        StopTarget(StopKind.TMUX, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert actions(record) == ["Ctrl-C", "exited"]
    assert (tmp_path / "checkpoint").exists() and not is_running(pid)
    assert tmux("has-session", "-t", "=train").returncode == 0  # the shell stays, for people to read
    assert ["tmux", "has-session", "-t", "=train"] in transport.calls
    assert "so the trainer had time to save a checkpoint" in record.detail


@needs_tmux
def test_tmux_session_is_killed_when_ctrl_c_is_ignored(tmux_server: None, tmp_path: Path) -> None:
    tmux_session("train", *trainer_argv(tmp_path, "--ignore-int"))
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport).stop(
        StopTarget(StopKind.TMUX, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert actions(record) == ["Ctrl-C", "kill-session", "exited"]
    assert (tmp_path / "got_SIGINT").exists()
    assert tmux("has-session", "-t", "=train").returncode != 0
    assert wait_for(lambda: not is_running(pid))
    assert transport.commands("tmux")[-1] == ["tmux", "has-session", "-t", "=train"]
    assert ["tmux", "kill-session", "-t", "=train"] in transport.calls


@needs_tmux
def test_tmux_ctrl_c_reaches_a_pane_left_in_copy_mode(tmux_server: None, tmp_path: Path) -> None:
    # Someone scrolled back through the log: C-c alone would only leave copy mode.
    tmux_session("train", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    assert tmux("copy-mode", "-t", "=train:").returncode == 0
    assert tmux("display", "-p", "-t", "=train:", "#{pane_in_mode}").stdout.strip() == "1"
    record = stopper(RecordingTransport()).stop(
        StopTarget(StopKind.TMUX, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert actions(record) == ["Ctrl-C", "exited"], record.detail
    assert (tmp_path / "checkpoint").exists() and not is_running(pid)


@needs_tmux
def test_tmux_names_match_exactly_never_by_prefix(tmux_server: None, tmp_path: Path) -> None:
    tmux_session("train2", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport).stop(
        StopTarget(StopKind.TMUX, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.ALREADY_GONE
    assert not any("send-keys" in call or "kill-session" in call for call in transport.calls)
    assert is_running(pid) and not (tmp_path / "got_SIGINT").exists()


@needs_tmux
def test_tmux_session_newer_than_the_run_is_refused(tmux_server: None, tmp_path: Path) -> None:
    tmux_session("train", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    run_began = time.time() - 3600
    record = stopper(RecordingTransport()).stop(
        StopTarget(StopKind.TMUX, "train"), run_began, None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.REFUSED
    assert "newer session with the same name" in record.detail
    assert is_running(pid)


@needs_tmux
def test_tmux_dry_run_sends_nothing(tmux_server: None, tmp_path: Path) -> None:
    tmux_session("train", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport, dry_run=True).stop(
        StopTarget(StopKind.TMUX, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.DRY_RUN
    assert record.detail.startswith("would send Ctrl-C to tmux session train, then kill-session")
    assert not any("send-keys" in call for call in transport.calls)
    time.sleep(0.2)
    assert is_running(pid) and not (tmp_path / "got_SIGINT").exists()


# screen -------------------------------------------------------------------------------


@pytest.fixture
def screen_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private socket directory: the test's sessions, and only them."""
    folder = Path(tempfile.mkdtemp(prefix="tc-screen-"))  # mode 0700, as screen requires
    monkeypatch.setenv("SCREENDIR", str(folder))
    yield folder
    for socket in folder.iterdir():
        subprocess.run(["screen", "-S", socket.name, "-X", "quit"], capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def screen_session(name: str, *command: str) -> None:
    subprocess.run(["screen", "-dmS", name, *command], check=True)


def screen_exists(folder: Path, name: str) -> bool:
    return any(socket.name.endswith(f".{name}") for socket in folder.iterdir())


@needs_screen
def test_screen_ctrl_c_stops_the_trainer(screen_dir: Path, tmp_path: Path) -> None:
    screen_session("train", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport).stop(
        StopTarget(StopKind.SCREEN, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert actions(record) == ["Ctrl-C", "exited"]
    assert (tmp_path / "checkpoint").exists() and not is_running(pid)
    stuff = [call for call in transport.commands("screen") if "stuff" in call]
    assert len(stuff) == 1 and stuff[0][-1] == "\x03" and stuff[0][2].endswith(".train")


@needs_screen
def test_screen_session_is_quit_when_ctrl_c_is_ignored(screen_dir: Path, tmp_path: Path) -> None:
    screen_session("train", *trainer_argv(tmp_path, "--ignore-int"))
    pid = trainer_pid(tmp_path)
    record = stopper(RecordingTransport()).stop(
        StopTarget(StopKind.SCREEN, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert actions(record) == ["Ctrl-C", "quit", "exited"]
    assert (tmp_path / "got_SIGINT").exists()
    assert wait_for(lambda: not screen_exists(screen_dir, "train"))
    assert wait_for(lambda: not is_running(pid))


@needs_screen
def test_screen_names_match_exactly_never_by_prefix(screen_dir: Path, tmp_path: Path) -> None:
    screen_session("train2", *trainer_argv(tmp_path))
    pid = trainer_pid(tmp_path)
    transport = RecordingTransport()
    record = stopper(transport).stop(
        StopTarget(StopKind.SCREEN, "train"), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.ALREADY_GONE
    assert not any("-X" in call for call in transport.calls)
    assert is_running(pid) and screen_exists(screen_dir, "train2")


def test_other_kinds_are_not_for_the_session_stopper() -> None:
    with pytest.raises(ValueError, match="cannot stop"):
        stopper(RecordingTransport()).plan(StopTarget(StopKind.PID, "12"), 0.0)


class NoMultiplexer(RecordingTransport):
    """A host where tmux and screen are missing: its shell answers 127."""

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        return CommandResult(127, "", f"sh: 1: {argv[0]}: not found")


@pytest.mark.parametrize("kind", [StopKind.TMUX, StopKind.SCREEN])
def test_a_missing_multiplexer_is_a_failure_not_a_finished_session(kind: StopKind) -> None:
    record = stopper(NoMultiplexer()).stop(StopTarget(kind, "train"), started(), None, SaveLog(), "rule", "r")
    assert record.outcome is StopOutcome.FAILED
    assert "not found" in record.detail
