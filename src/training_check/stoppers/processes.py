"""Facts about processes, and signals, through a transport (so they work on remote hosts too).

Nothing here touches this machine directly (no os.kill, no /proc): every fact comes from
`ps`, `pgrep` and `date` run through the transport, with each value a separate argv item
built from a checked int. Times are in the host's own clock, which may differ from ours.
"""

from __future__ import annotations

import os.path
from collections.abc import Sequence
from dataclasses import dataclass

from ..transport import Transport
from .interface import StopError

SIGNALS = frozenset({"INT", "TERM", "KILL"})
# A pane or window whose own process is one of these, at its prompt, runs nothing.
SHELLS = frozenset({"bash", "sh", "dash", "zsh", "fish", "ksh", "mksh", "tcsh", "csh"})
_MAX_ID = 2**31


@dataclass(frozen=True)
class ProcessInfo:
    """One process as `ps` shows it; `started_at` is in the host's clock (epoch seconds)."""

    pid: int
    stat: str  # e.g. "Ss+", "R", "Z"
    started_at: float
    command: str

    @property
    def zombie(self) -> bool:
        """Exited but not yet reaped by its parent (`kill -0` still succeeds on it)."""
        return self.stat.startswith("Z")

    @property
    def idle_shell(self) -> bool:
        """A shell waiting at its prompt: in the foreground of its terminal ("+")."""
        program = os.path.basename(self.command.split(" ", 1)[0]).lstrip("-")
        return program in SHELLS and "+" in self.stat


def checked_id(value: int) -> int:
    """`value` if it is a plausible PID/PGID/job id; raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < _MAX_ID:
        raise ValueError(f"not a process id: {value!r}")
    return value


def host_time(transport: Transport) -> float:
    """The host's current time (epoch seconds), from `date +%s`."""
    result = transport.run(["date", "+%s"])
    text = result.stdout.strip()
    if result.exit_code != 0 or not text.isdigit():
        raise StopError(f"`date +%s` on {transport.name} gave no time: {result.stderr.strip() or text!r}")
    return float(text)


def processes(transport: Transport, pids: Sequence[int]) -> list[ProcessInfo]:
    """The processes among `pids` that exist (zombies included)."""
    if not pids:
        return []
    listed = ",".join(str(checked_id(p)) for p in pids)
    result = transport.run(["ps", "-ww", "-o", "pid=,stat=,etimes=,args=", "-p", listed])
    lines = result.stdout.strip().splitlines()
    if result.exit_code != 0 and not lines:  # ps exits 1 when no process matched
        if result.stderr.strip():
            raise StopError(f"`ps` on {transport.name} failed: {result.stderr.strip()}")
        return []
    # etimes counts from the host's own "now", so start times stay in the host's clock.
    now = host_time(transport)
    return [_parse_ps_line(line, now) for line in lines]


def _parse_ps_line(line: str, host_now: float) -> ProcessInfo:
    fields = line.split(None, 3)
    if len(fields) < 3 or not (fields[0].isdigit() and fields[2].isdigit()):
        raise StopError(f"unexpected `ps` output: {line!r}")
    command = fields[3] if len(fields) == 4 else ""
    return ProcessInfo(int(fields[0]), fields[1], host_now - int(fields[2]), command)


def process_info(transport: Transport, pid: int) -> ProcessInfo | None:
    """The process `pid`, or None when no such process exists."""
    found = processes(transport, [pid])
    return found[0] if found else None


def _pgrep(transport: Transport, option: str, value: int) -> list[int]:
    result = transport.run(["pgrep", option, str(checked_id(value))])
    if result.exit_code == 1:  # nothing matched
        return []
    if result.exit_code != 0:
        raise StopError(f"`pgrep {option}` on {transport.name} failed: {result.stderr.strip()}")
    return [int(word) for word in result.stdout.split() if word.isdigit()]


def group_members(transport: Transport, pgid: int) -> list[ProcessInfo]:
    """The processes of process group `pgid` (zombies included).

    `pgrep -g` selects by process group; `ps -g` would not: procps reads a numeric -g as a
    *session* id.
    """
    return processes(transport, _pgrep(transport, "-g", pgid))


def group_alive(transport: Transport, pgid: int) -> bool:
    """Whether any member of process group `pgid` is alive (zombies do not count)."""
    return any(not m.zombie for m in group_members(transport, pgid))


def children(transport: Transport, pid: int) -> list[int]:
    """The PIDs of the direct children of `pid`."""
    return _pgrep(transport, "-P", pid)


def terminal_busy(transport: Transport, pids: Sequence[int]) -> bool:
    """Whether the terminals whose first processes are `pids` still run a program.

    A terminal is idle when its process has exited, or is a shell at its prompt with no
    living child; a program started directly in it (not through a shell) keeps it busy.
    """
    if not pids:
        return False
    listed = ",".join(str(checked_id(p)) for p in pids)
    # -p and --ppid together select the union: the terminals' processes and their children.
    result = transport.run(["ps", "-ww", "-o", "pid=,ppid=,stat=,args=", "-p", listed, "--ppid", listed])
    if result.exit_code not in (0, 1):
        raise StopError(f"`ps` on {transport.name} failed: {result.stderr.strip()}")
    for line in result.stdout.strip().splitlines():
        fields = line.split(None, 3)
        if len(fields) < 3 or not fields[0].isdigit():
            raise StopError(f"unexpected `ps` output: {line!r}")
        info = ProcessInfo(int(fields[0]), fields[2], 0.0, fields[3] if len(fields) == 4 else "")
        # A child of a terminal's process (its pid is not in `pids`) is a program running.
        if not info.zombie and (info.pid not in pids or not info.idle_shell):
            return True
    return False


def signal(transport: Transport, sig: str, pid_or_negative_pgid: int) -> None:
    """Send SIG (INT, TERM or KILL) with `kill -s SIG -- ID`; a negative ID is a process group.

    A target that no longer exists is not an error (it exited first); 1 and -1 are refused:
    `kill -- -1` would signal every process we may signal.
    """
    if sig not in SIGNALS:
        raise ValueError(f"not a signal we send: {sig!r}")
    checked_id(abs(pid_or_negative_pgid))
    if abs(pid_or_negative_pgid) == 1:
        raise ValueError("refusing to signal pid or process group 1")
    result = transport.run(["kill", "-s", sig, "--", str(pid_or_negative_pgid)])
    if result.exit_code != 0 and "no such process" not in result.stderr.lower():
        raise StopError(
            f"`kill -s {sig} -- {pid_or_negative_pgid}` on {transport.name} failed: {result.stderr.strip()}"
        )
