"""Commands and SFTP on a remote host over one SSH connection (paramiko).

Secrets arrive in environment variables named by the host's config: the private key
(`key_env`) and the known_hosts lines (`known_hosts_env`). An unknown host key is refused
unless `accept_new_host_keys` is set; a changed one is always refused. The connection is
opened on first use and reused by every command and SFTP read until `close()`.
"""

from __future__ import annotations

import logging
import select
import shlex
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import paramiko

from ..config import HostConfig
from .errors import AuthenticationFailed, HostKeyChanged, HostUnreachable, authorized_tip, changed_key_tip, where
from .interface import CommandResult, TransportError
from .keys import AcceptNewKey, RefuseUnknownKey, fingerprint, load_known_hosts, load_private_key

log = logging.getLogger(__name__)
_CHUNK = 1 << 16
_TIMED_OUT = ("banner", "No existing session")

JumpFactory = Callable[[str], "SSHTransport"]


class SSHTransport:
    """Runs commands on `host` and opens its SFTP session, over one reused connection.

    `hosts` resolves `proxy_jump` names; `environ` holds the secrets. `jumps` gives the
    transport of a jump host (a pool passes its own, so a jump host is connected once);
    without it, this transport opens and closes its own.
    """

    def __init__(
        self,
        host: HostConfig,
        hosts: Mapping[str, HostConfig],
        environ: Mapping[str, str],
        *,
        jumps: JumpFactory | None = None,
    ) -> None:
        self.host = host
        self.name = host.name
        self.connections = 0  # connections opened so far: 1 per cycle when all goes well
        self._environ = environ
        self._hosts = hosts
        self._own_jump: SSHTransport | None = None
        self._jumps = jumps or self._private_jump
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        _check_jump_chain(host, hosts)

    def __repr__(self) -> str:
        return f"SSHTransport({where(self.host)})"

    def __enter__(self) -> SSHTransport:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        """Run `argv` on the host (quoted with shlex.join, so nothing is interpreted).

        After `timeout` seconds the channel is closed and TransportError raised; the
        command itself may go on running (without a terminal, sshd does not hang it up).
        """
        if not argv:
            raise ValueError("an empty command")
        command = shlex.join(argv)
        log.debug("%s: running %s", self.name, command)
        channel = self._session()
        try:
            channel.exec_command(command)
            out, err = _collect(channel, time.monotonic() + timeout)
        except TimeoutError:
            raise TransportError(f"`{argv[0]}` on {self.name} did not finish in {timeout:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise self._lost(f"running `{argv[0]}`") from e
        finally:
            channel.close()
        status = channel.recv_exit_status()  # at hand: _collect waited for it
        if status == -1 and not self._active():  # no status: the connection died
            raise self._lost(f"running `{argv[0]}`")
        return CommandResult(status, _text(out), _text(err))

    def sftp(self) -> paramiko.SFTPClient:
        """The host's SFTP session, opened once on the shared connection."""
        if self._sftp is None or not self._active():
            client = self._connected()
            try:
                self._sftp = client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise HostUnreachable(
                    f"{where(self.host)} refused an SFTP session ({e})",
                    tip="enable it in sshd_config: `Subsystem sftp internal-sftp`",
                ) from e
        return self._sftp

    def close(self) -> None:
        """Close the SFTP session, the connection and a jump connection of our own."""
        self._disconnect()
        if self._own_jump is not None:
            self._own_jump.close()
            self._own_jump = None

    def _disconnect(self) -> None:
        """Drop this host's connection (not a jump host's): the next use connects again."""
        for closable in (self._sftp, self._client):
            if closable is not None:
                closable.close()
        self._sftp = self._client = None

    def channel_to(self, hostname: str, port: int, timeout: float) -> paramiko.Channel:
        """A TCP connection to `hostname:port` made by this host (`ssh -J` for the next hop)."""
        transport = self._connected().get_transport()
        try:
            assert transport is not None  # _connected() returns an open client
            return transport.open_channel("direct-tcpip", (hostname, port), ("127.0.0.1", 0), timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HostUnreachable(
                f"{where(self.host)} could not connect on to {hostname}:{port} ({e})",
                tip=f"check that {hostname}:{port} is reachable from {self.name} and that its sshd "
                "allows TCP forwarding (`AllowTcpForwarding yes`)",
            ) from e

    def _private_jump(self, name: str) -> SSHTransport:
        if self._own_jump is None:
            self._own_jump = SSHTransport(self._hosts[name], self._hosts, self._environ)
        return self._own_jump

    def _active(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _session(self) -> paramiko.Channel:
        """A new session channel, connecting again if the connection died since its last
        use (safe to retry: opening a session runs nothing on the host)."""
        try:
            return self._open_session()
        except (paramiko.SSHException, OSError, EOFError):
            self._disconnect()
        try:
            return self._open_session()
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise self._lost("opening a session") from e

    def _open_session(self) -> paramiko.Channel:
        transport = self._connected().get_transport()
        assert transport is not None  # _connected() returns a connected client
        return transport.open_session(timeout=self.host.timeout_seconds)

    def _lost(self, doing: str) -> HostUnreachable:
        return HostUnreachable(
            f"the connection to {where(self.host)} was lost while {doing}",
            tip="the host may have gone down or restarted sshd; the next cycle tries again",
        )

    def _connected(self) -> paramiko.SSHClient:
        """The open client, connecting (again, if the connection dropped) when needed."""
        if self._client is not None and self._active():
            return self._client
        self._disconnect()
        self._client = self._connect()
        self.connections += 1
        return self._client

    def _connect(self) -> paramiko.SSHClient:
        host = self.host
        pkey = load_private_key(host, self._environ)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(AcceptNewKey() if host.accept_new_host_keys else RefuseUnknownKey(host))
        load_known_hosts(client.get_host_keys(), host, self._environ)
        log.debug("connecting to %s", where(host))
        try:
            sock = self._socket()
            client.connect(
                host.hostname, host.port, username=host.user, pkey=pkey, sock=sock,
                timeout=host.timeout_seconds, banner_timeout=host.timeout_seconds,
                auth_timeout=host.timeout_seconds, channel_timeout=host.timeout_seconds,
                look_for_keys=False, allow_agent=False,
            )  # fmt: skip
            log.debug("connected to %s", where(host))
            return client
        except Exception as e:  # every failure is translated below
            failure = self._translate(e)
        # Raised outside the `except` block, so no paramiko exception (which may quote
        # whole keys) hangs on it as context.
        client.close()
        raise failure

    def _socket(self) -> socket.socket | paramiko.Channel:
        host = self.host
        if host.proxy_jump is not None:
            return self._jumps(host.proxy_jump).channel_to(host.hostname, host.port, host.timeout_seconds)
        return socket.create_connection((host.hostname, host.port), timeout=host.timeout_seconds)

    def _translate(self, error: Exception) -> TransportError:
        """A paramiko or socket failure as our own error; key-bearing ones lose their cause."""
        host, there = self.host, where(self.host)
        if isinstance(error, TransportError):  # ours: unknown key, a jump host's failure
            return error
        if isinstance(error, paramiko.BadHostKeyException):
            return HostKeyChanged(
                f"the host key of {there} CHANGED: it offered {fingerprint(error.key)}, known_hosts "
                f"holds {fingerprint(error.expected_key)}; refused",
                tip=changed_key_tip(host),
            )
        failure = _connect_failure(host, error)
        failure.__cause__ = error
        return failure


def _connect_failure(host: HostConfig, error: Exception) -> TransportError:
    there = where(host)
    if isinstance(error, paramiko.AuthenticationException) or "No authentication methods" in str(error):
        return AuthenticationFailed(f"{there} did not accept our key", tip=authorized_tip(host))
    if isinstance(error, socket.gaierror):
        return HostUnreachable(f"{there}: cannot resolve {host.hostname}", tip="check `hostname:`")
    if isinstance(error, ConnectionRefusedError):
        return HostUnreachable(f"{there} refused the connection", tip=f"check that sshd listens on port {host.port}")
    # paramiko reports a handshake that timed out as a banner error or, when its own
    # negotiation wait ran out silently, as "No existing session" at the login after it.
    if isinstance(error, TimeoutError) or any(sign in str(error) for sign in _TIMED_OUT):
        return HostUnreachable(
            f"{there} did not answer within {host.timeout_seconds:g} s",
            tip="check that the host is up and `port:` is its SSH port; raise `timeout_seconds` if it is slow",
        )
    return HostUnreachable(f"{there}: SSH connection failed ({type(error).__name__}: {error})")


def _check_jump_chain(host: HostConfig, hosts: Mapping[str, HostConfig]) -> None:
    """Refuse a `proxy_jump` that names no host or loops back."""
    chain = [host.name]
    jump = host.proxy_jump
    while jump is not None:
        if jump not in hosts:
            raise TransportError(f"{host.name}: proxy_jump names {jump!r}, which is not in `hosts:`")
        if jump in chain:
            raise TransportError(f"{host.name}: proxy_jump loops: {' -> '.join([*chain, jump])}")
        chain.append(jump)
        jump = hosts[jump].proxy_jump


def _collect(channel: paramiko.Channel, deadline: float) -> tuple[bytes, bytes]:
    """All of stdout and stderr, and the exit status, by `deadline` (else TimeoutError)."""
    out, err = bytearray(), bytearray()
    while not (channel.eof_received or channel.closed):
        _drain(channel, out, err)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        # The channel's fileno is a pipe paramiko sets when output (or EOF) arrives.
        select.select([channel], [], [], remaining)
    _drain(channel, out, err)
    # The exit status comes after EOF; closing the channel sets the event as well.
    if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
        raise TimeoutError
    return bytes(out), bytes(err)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    while channel.recv_ready():
        out += channel.recv(_CHUNK)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(_CHUNK)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
