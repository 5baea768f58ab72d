"""Stopping diverged runs gracefully (so the trainer can save a checkpoint), at most once.

Every command goes through a `Transport` as an argv list, so the same stoppers work on
this machine and, later, over SSH.
"""

from training_check.stoppers.factory import stopper_for
from training_check.stoppers.interface import FINAL, StopError, Stopper
from training_check.stoppers.processes import (
    ProcessInfo,
    group_alive,
    group_members,
    process_info,
    signal,
)
from training_check.stoppers.sessions import SessionStopper, SlurmStopper
from training_check.stoppers.signals import SignalStopper

__all__ = [
    "FINAL",
    "ProcessInfo",
    "SessionStopper",
    "SignalStopper",
    "SlurmStopper",
    "StopError",
    "Stopper",
    "group_alive",
    "group_members",
    "process_info",
    "signal",
    "stopper_for",
]
