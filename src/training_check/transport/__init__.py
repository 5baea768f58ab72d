"""Running commands where the training runs: on this machine or (later) over SSH."""

from .interface import CommandResult, Transport, TransportError
from .local import LocalTransport

__all__ = ["CommandResult", "LocalTransport", "Transport", "TransportError"]
