"""Stopping runs held by a terminal multiplexer (tmux, screen) or by SLURM.

tmux and screen: Ctrl-C into every pane / window (what a person at the keyboard would do),
wait for the programs to end, and only if they do not, kill the session. Both programs
match a session name by PREFIX ("train" finds "train2"), so targets are made exact:
`=NAME` for tmux, `PID.NAME` for screen. SLURM: `scancel --signal=INT`, wait, `scancel`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from ..clock import Clock
from ..model import StopKind, StopTarget
from ..transport import Transport
from .interface import Liveness, Plan, PlannedStopper, Probe, Rung, StopError, clock_time
from .processes import checked_id, children, process_info, terminal_busy

CTRL_C = "\x03"  # what `stuff` types into a screen window: the Ctrl-C character itself
_PANE_ID = re.compile(r"%[0-9]+")
_SCREEN_LINE = re.compile(r"\s*([0-9]+)\.(\S+)\s")
# squeue states after which a job runs nothing any more.
SLURM_DONE = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "PREEMPTED",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)


@dataclass(frozen=True)
class _Pane:
    pane_id: str  # "%3": unique on the tmux server
    pid: int  # its first process: a shell, or the program it was started with
    in_mode: bool  # in copy mode (scrolling back), where keys do not reach the program


class SessionStopper(PlannedStopper):
    """Stops StopKind.TMUX and StopKind.SCREEN targets: Ctrl-C, wait, kill the session."""

    def plan(self, target: StopTarget, run_started_at: float) -> Plan:
        """The ladder for `target` (building it runs no command)."""
        name = target.value
        if target.kind is StopKind.TMUX:
            rungs = [
                Rung("Ctrl-C", partial(self._tmux_ctrl_c, name), self.grace_seconds),
                Rung("kill-session", partial(self._tmux_kill, name), self.verify_seconds),
            ]
            probe = partial(self._tmux_probe, name, run_started_at)
        elif target.kind is StopKind.SCREEN:
            rungs = [
                Rung(
                    "Ctrl-C",
                    partial(self._screen_command, name, "at", "#", "stuff", CTRL_C),
                    self.grace_seconds,
                ),
                Rung("quit", partial(self._screen_command, name, "quit"), self.verify_seconds),
            ]
            probe = partial(self._screen_probe, name, run_started_at)
        else:
            raise ValueError(f"SessionStopper cannot stop a {target.kind.value} target")
        noun = f"{target.kind.value} session {name}"
        return Plan(noun, "the session's programs", rungs, probe)

    def _guard(self, created_at: float, run_started_at: float, noun: str) -> Probe | None:
        """REPLACED when the session began after the run: a newer session with the same name."""
        late = created_at - run_started_at
        if late <= self.start_tolerance_seconds:
            return None
        why = (
            f"{noun} was created at {clock_time(created_at)}, {late:.0f} s after the run began, "
            "so it is a newer session with the same name"
        )
        return Probe(Liveness.REPLACED, why)

    # tmux -------------------------------------------------------------------------------

    def _tmux(self, *args: str) -> tuple[int, str]:
        result = self.transport.run(["tmux", *args])
        return result.exit_code, result.stdout if result.exit_code == 0 else result.stderr.strip()

    def _tmux_panes(self, name: str) -> tuple[float, list[_Pane]] | None:
        """The session's creation time and its panes; None when there is no such session."""
        code, err = self._tmux("has-session", "-t", f"={name}")
        if code == 1:  # no such session, or no tmux server at all
            return None
        if code != 0:  # e.g. 127 from a remote shell: tmux is not installed there
            raise StopError(f"`tmux has-session` failed ({code}): {err}")
        fields = "#{session_created} #{pane_id} #{pane_pid} #{pane_in_mode}"
        code, out = self._tmux("list-panes", "-s", "-t", f"={name}", "-F", fields)
        if code != 0:
            return None  # it ended between the two commands
        rows = [line.split() for line in out.splitlines() if line.strip()]
        if not rows or any(len(r) != 4 or not _PANE_ID.fullmatch(r[1]) for r in rows):
            raise StopError(f"unexpected `tmux list-panes` output: {out!r}")
        return float(rows[0][0]), [_Pane(r[1], int(r[2]), r[3] == "1") for r in rows]

    def _tmux_probe(self, name: str, run_started_at: float) -> Probe:
        found = self._tmux_panes(name)
        if found is None:
            return Probe(Liveness.GONE)
        created_at, panes = found
        refused = self._guard(created_at, run_started_at, f"tmux session {name}")
        if refused is not None:
            return refused
        if terminal_busy(self.transport, [pane.pid for pane in panes]):
            return Probe(Liveness.ALIVE)
        return Probe(Liveness.GONE, f"its panes run no program now; tmux session {name} was left open")

    def _tmux_ctrl_c(self, name: str) -> None:
        # Every pane: the trainer need not be in the active one.
        found = self._tmux_panes(name)
        for pane in found[1] if found else []:
            if pane.in_mode:  # scrolling back (copy mode) would swallow the C-c
                self._tmux_keys(pane.pane_id, "-X", "cancel")
            self._tmux_keys(pane.pane_id, "C-c")

    def _tmux_keys(self, pane_id: str, *keys: str) -> None:
        code, err = self._tmux("send-keys", "-t", pane_id, *keys)
        if code != 0:
            raise StopError(f"`tmux send-keys -t {pane_id} {' '.join(keys)}` failed: {err}")

    def _tmux_kill(self, name: str) -> None:
        code, err = self._tmux("kill-session", "-t", f"={name}")
        if code != 0 and self._tmux_panes(name) is not None:
            raise StopError(f"`tmux kill-session -t ={name}` failed: {err}")

    # screen -----------------------------------------------------------------------------

    def _screen_pid(self, name: str) -> int | None:
        """The PID of the screen session named exactly `name` (its server process), or None."""
        # All sessions, filtered here: the name never reaches screen's option parser, and
        # screen's own filter matches prefixes.
        result = self.transport.run(["screen", "-ls"])
        if result.exit_code not in (0, 1):  # 1: no sessions (or, in some versions, some)
            raise StopError(f"`screen -ls` failed ({result.exit_code}): {result.stderr.strip()}")
        pids = [int(m[1]) for m in map(_SCREEN_LINE.match, result.stdout.splitlines()) if m and m[2] == name]
        if len(pids) > 1:
            raise StopError(f"{len(pids)} screen sessions are named {name}; stop the right one by hand")
        return pids[0] if pids else None

    def _screen_probe(self, name: str, run_started_at: float) -> Probe:
        pid = self._screen_pid(name)
        server = process_info(self.transport, pid) if pid is not None else None
        if server is None:
            return Probe(Liveness.GONE)
        refused = self._guard(server.started_at, run_started_at, f"screen session {name}")
        if refused is not None:
            return refused
        if terminal_busy(self.transport, children(self.transport, server.pid)):
            return Probe(Liveness.ALIVE)
        return Probe(Liveness.GONE, f"its windows run no program now; screen session {name} was left open")

    def _screen_command(self, name: str, *command: str) -> None:
        pid = self._screen_pid(name)
        if pid is None:
            return  # the session ended before the command: nothing left to do
        result = self.transport.run(["screen", "-S", f"{pid}.{name}", "-X", *command])
        if result.exit_code != 0:
            raise StopError(f"`screen -X {command[0]}` failed: {result.stderr.strip() or result.stdout.strip()}")


class SlurmStopper(PlannedStopper):
    """Stops StopKind.SLURM jobs: `scancel --signal=INT`, wait, then `scancel`."""

    def __init__(
        self,
        transport: Transport,
        clock: Clock,
        grace_seconds: float,
        dry_run: bool = False,
        *,
        poll_seconds: float = 5.0,
        verify_seconds: float = 90.0,
    ) -> None:
        # scancel itself waits SLURM's KillWait (30 s by default) between SIGTERM and SIGKILL.
        super().__init__(
            transport, clock, grace_seconds, dry_run, poll_seconds=poll_seconds, verify_seconds=verify_seconds
        )

    def plan(self, target: StopTarget, run_started_at: float = 0.0) -> Plan:
        """The ladder for `target` (building it runs no command; job ids are not reused)."""
        if target.kind is not StopKind.SLURM:
            raise ValueError(f"SlurmStopper cannot stop a {target.kind.value} target")
        job = str(checked_id(int(target.value)))
        rungs = [
            Rung("SIGINT", partial(self._scancel, "--signal=INT", job), self.grace_seconds),
            Rung("scancel", partial(self._scancel, job), self.verify_seconds),
        ]
        return Plan(f"SLURM job {job}", "the job", rungs, partial(self._probe, job))

    def _scancel(self, *args: str) -> None:
        result = self.transport.run(["scancel", *args])
        if result.exit_code != 0:
            raise StopError(f"`scancel {' '.join(args)}` failed: {result.stderr.strip()}")

    def _probe(self, job: str) -> Probe:
        result = self.transport.run(["squeue", "-h", "-j", job, "-o", "%T"])
        if result.exit_code != 0:
            # Jobs leave squeue's memory a few minutes after they end (MinJobAge).
            if "invalid job id" in result.stderr.lower():
                return Probe(Liveness.GONE)
            raise StopError(f"`squeue -j {job}` failed: {result.stderr.strip()}")
        states = result.stdout.split()
        if all(state in SLURM_DONE for state in states):
            return Probe(Liveness.GONE, f"state {states[0]}" if states else "")
        return Probe(Liveness.ALIVE)
