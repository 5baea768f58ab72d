"""Which stopper stops which kind of handle."""

from __future__ import annotations

from ..clock import Clock
from ..model import StopKind
from ..transport import Transport
from .interface import Stopper
from .sessions import SessionStopper, SlurmStopper
from .signals import SignalStopper


def stopper_for(kind: StopKind, transport: Transport, clock: Clock, grace_seconds: float, dry_run: bool) -> Stopper:
    """The stopper for `kind`, running its commands through `transport`."""
    if kind in (StopKind.PID, StopKind.PGID):
        return SignalStopper(transport, clock, grace_seconds, dry_run)
    if kind in (StopKind.TMUX, StopKind.SCREEN):
        return SessionStopper(transport, clock, grace_seconds, dry_run)
    return SlurmStopper(transport, clock, grace_seconds, dry_run)
