"""Stopping a process or a process group with signals: SIGINT, then SIGTERM, then SIGKILL.

SIGINT first because trainers (PyTorch Lightning, HF Trainer, most hand-written loops)
catch it to save a checkpoint; the later signals only come when the grace time ran out.
Before every signal the PID is checked to still be the training process, so a PID that
the system handed to a newer process is never signalled.
"""

from __future__ import annotations

from functools import partial

from ..model import StopKind, StopTarget
from .interface import Liveness, Plan, PlannedStopper, Probe, Rung, clock_time
from .processes import ProcessInfo, group_members, process_info, signal


class SignalStopper(PlannedStopper):
    """Stops StopKind.PID and StopKind.PGID targets through `kill` on the transport."""

    def plan(self, target: StopTarget, run_started_at: float) -> Plan:
        """The ladder for `target` (building it runs no command)."""
        if target.kind not in (StopKind.PID, StopKind.PGID):
            raise ValueError(f"SignalStopper cannot stop a {target.kind.value} target")
        number = int(target.value)
        if target.kind is StopKind.PID:
            noun, subject, recipient = f"pid {number}", "the process", number
            probe = partial(self._probe_pid, number, run_started_at)
        else:
            # Every signal goes to the whole group, as Ctrl-C in a terminal would: data
            # loader workers and launcher children stop with the trainer.
            noun, subject, recipient = f"process group {number}", "the group", -number
            probe = partial(self._probe_group, number, run_started_at)
        waits = (self.grace_seconds, self.grace_seconds, self.verify_seconds)
        rungs = [
            Rung(f"SIG{sig}", partial(signal, self.transport, sig, recipient), wait)
            for sig, wait in zip(("INT", "TERM", "KILL"), waits, strict=True)
        ]
        return Plan(noun, subject, rungs, probe)

    def _probe_pid(self, pid: int, run_started_at: float) -> Probe:
        if pid == 1:
            return Probe(Liveness.REPLACED, "pid 1 is the system's init process, never the trainer")
        info = process_info(self.transport, pid)
        if info is None:
            return Probe(Liveness.GONE)
        if info.zombie:
            return Probe(Liveness.GONE, "a zombie: exited, not yet reaped")
        return self._guard(info, run_started_at, f"pid {pid}")

    def _probe_group(self, pgid: int, run_started_at: float) -> Probe:
        if pgid == 1:
            return Probe(Liveness.REPLACED, "process group 1 belongs to the system, never the trainer")
        members = group_members(self.transport, pgid)
        if all(m.zombie for m in members):
            return Probe(Liveness.GONE)
        # The leader tells when the group began; without it, its oldest member does.
        leader = next((m for m in members if m.pid == pgid), None)
        oldest = leader or min(members, key=lambda m: m.started_at)
        return self._guard(oldest, run_started_at, f"process group {pgid}")

    def _guard(self, info: ProcessInfo, run_started_at: float, noun: str) -> Probe:
        """ALIVE if `info` can be the run's process: it started before the run (give or take)."""
        late = info.started_at - run_started_at
        if late <= self.start_tolerance_seconds:
            return Probe(Liveness.ALIVE)
        why = (
            f"{noun} now belongs to a process started at {clock_time(info.started_at)}, {late:.0f} s "
            f"after the run began (tolerance {self.start_tolerance_seconds:.0f} s), so it is not the "
            f"training process: `{info.command[:80]}`"
        )
        return Probe(Liveness.REPLACED, why)
