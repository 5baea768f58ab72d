"""The transports of one cycle: each SSH host connected at most once, all closed together."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from ..config import Config
from .interface import Transport, TransportError
from .local import LocalTransport
from .ssh import SSHTransport


class TransportPool:
    """Hands out one transport per host for a cycle; `close_all()` (or `with`) ends them.

    Connections open lazily, on a transport's first command or SFTP read, so a host whose
    runs need no look this cycle costs nothing. Jump hosts are shared the same way.
    """

    def __init__(self, config: Config, environ: Mapping[str, str]) -> None:
        self._config = config
        self._environ = environ
        self._local = LocalTransport()
        self._ssh: dict[str, SSHTransport] = {}

    def __enter__(self) -> TransportPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close_all()

    def for_host(self, name: str | None) -> Transport:
        """The transport for `hosts.<name>`; None means this machine."""
        return self._local if name is None else self.ssh(name)

    def ssh(self, name: str) -> SSHTransport:
        """The SSH transport of `hosts.<name>`, created on first request."""
        transport = self._ssh.get(name)
        if transport is None:
            host = self._config.hosts.get(name)
            if host is None:
                known = ", ".join(sorted(self._config.hosts)) or "none"
                raise TransportError(
                    f"no host named {name!r} in `hosts:` of {self._config.path}",
                    tip=f"add it to `hosts:` (configured: {known})",
                )
            transport = SSHTransport(host, self._config.hosts, self._environ, jumps=self.ssh)
            self._ssh[name] = transport
        return transport

    @property
    def connections(self) -> int:
        """SSH connections opened through this pool so far (for logs and tests)."""
        return sum(transport.connections for transport in self._ssh.values())

    def close_all(self) -> None:
        """Close every connection; the pool can be used again (it reconnects on demand)."""
        # Hosts reached through a jump host first: closing the jump would cut them off.
        for transport in sorted(self._ssh.values(), key=self._hops, reverse=True):
            transport.close()

    def _hops(self, transport: SSHTransport) -> int:
        hops, jump = 0, transport.host.proxy_jump
        while jump is not None:  # SSHTransport refused loops when it was made
            hops, jump = hops + 1, self._config.hosts[jump].proxy_jump
        return hops
