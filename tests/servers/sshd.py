"""A real OpenSSH server on 127.0.0.1, for the SSH transport and SFTP tests.

    server = SSHServer(folder, authorized=[key.public for key in keys])
    server.start()            # own host key and config, a free port, waits until it accepts
    server.host("box")        # a HostConfig for it; server.environ(key) holds the secrets
    server.stop()             # ends it by its PID

It runs `/usr/sbin/sshd -D -e` (no PAM, no passwords, keys only, SFTP built in) as the
current user, who is also the login user; its log (`server.log()`) shows every accepted
login. Keys are made with `cryptography` (a dependency of paramiko), so no `ssh-keygen`
is needed. The session fixtures `ssh_keys`, `sshd` and `jump_sshd` are registered in
tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from training_check.config import HostConfig

SSHD = Path("/usr/sbin/sshd")
MISSING = (
    f"{SSHD} is missing: the SSH tests need a real OpenSSH server. `make test` installs it "
    "(with tmux and screen); by hand: apt-get install -y --no-install-recommends openssh-server"
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"  # Debian's sshd default for users, /usr/games aside
KEY_ENV, KNOWN_HOSTS_ENV = "TC_TEST_SSH_KEY", "TC_TEST_KNOWN_HOSTS"
_PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----\n(.*?)\n-----END", re.DOTALL)


@dataclass(frozen=True)
class KeyPair:
    """A key as a user would put it in a secret (`private`) and in authorized_keys (`public`)."""

    private: str
    public: str  # "ssh-ed25519 AAAA..."

    @property
    def secret_body(self) -> str:
        """The base64 body of the private key (the part that must never leak), on one line."""
        match = _PEM_BODY.search(self.private)
        assert match is not None
        return "".join(match[1].split())

    @property
    def public_base64(self) -> str:
        return self.public.split()[1]


def make_key(kind: str = "ed25519", pem: bool = False) -> KeyPair:
    """A new key pair: "ed25519", "ecdsa" or "rsa"; OpenSSH format, or classic PEM."""
    key: Any
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fmt = ser.PrivateFormat.TraditionalOpenSSL if pem else ser.PrivateFormat.OpenSSH
    private = key.private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()).decode()
    public = key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    return KeyPair(private, public)


def free_port() -> int:
    """A port nothing listens on right now (sshd cannot take port 0 itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SSHServer:
    """One sshd on 127.0.0.1 with its own host key; logins by the `authorized` keys only."""

    def __init__(
        self, folder: Path, authorized: Sequence[str], log_level: str = "INFO", path_prefix: Path | None = None
    ) -> None:
        self.folder = folder
        self.authorized = authorized
        self.log_level = log_level
        self.path_prefix = path_prefix  # put first on the PATH of remote commands (sshd's `SetEnv`)
        self.host_key = make_key()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def known_hosts_line(self) -> str:
        """The line `ssh-keyscan -p PORT 127.0.0.1` would print for this server."""
        return f"[127.0.0.1]:{self.port} {self.host_key.public}"

    def start(self) -> None:
        """Write the keys and config, check the config, start sshd and wait until it accepts."""
        if not SSHD.exists():
            raise RuntimeError(MISSING)
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_private(self.folder / "host_key", self.host_key.private)
        (self.folder / "authorized_keys").write_text("".join(f"{key}\n" for key in self.authorized))
        self.port = free_port()
        config = self.folder / "sshd_config"
        config.write_text(self._config())
        if os.geteuid() == 0:  # sshd's privilege separation needs it; only root can make it
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run([SSHD, "-t", "-f", config], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"sshd rejected its test config: {check.stderr.strip()}")
        with (self.folder / "sshd.log").open("wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=log, stderr=log)
        self._wait_until_listening()

    def _config(self) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.folder / 'host_key'}",
                f"PidFile {self.folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "AllowTcpForwarding yes",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
                f"LogLevel {self.log_level}",
                *self._path_config(),
                "",
            ]
        )

    def _path_config(self) -> list[str]:
        """`SetEnv PATH=…`: it replaces sshd's default PATH, so that default follows the prefix."""
        if self.path_prefix is None:
            return []
        return [f'SetEnv "PATH={self.path_prefix}{os.pathsep}{DEFAULT_PATH}"']

    def _wait_until_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not listen on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        """End sshd by its PID (sessions still open end when their clients close)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def log(self) -> str:
        """Everything sshd logged so far."""
        return (self.folder / "sshd.log").read_text(errors="replace")

    def accepted(self) -> int:
        """Logins so far: one per SSH connection that authenticated."""
        return self.log().count("Accepted publickey")

    def host(self, name: str = "box", **changes: Any) -> HostConfig:
        """A `hosts:` entry for this server, with the test secret variables."""
        host = HostConfig(
            name,
            "127.0.0.1",
            user=getpass.getuser(),
            port=self.port,
            key_env=KEY_ENV,
            known_hosts_env=KNOWN_HOSTS_ENV,
            timeout_seconds=5.0,
        )
        return replace(host, **changes)

    def environ(self, key: KeyPair, *known_hosts: str) -> dict[str, str]:
        """The secrets: `key` and known_hosts lines (by default this server's own)."""
        return {KEY_ENV: key.private, KNOWN_HOSTS_ENV: "\n".join(known_hosts or [self.known_hosts_line])}


def _write_private(path: Path, text: str) -> None:
    """Write a key readable by its owner only (sshd ignores host keys others can read)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


@dataclass(frozen=True)
class ClientKeys:
    """The client keys of the test session: four authorized, one stranger."""

    ed25519: KeyPair
    ecdsa_pem: KeyPair
    rsa: KeyPair
    rsa_pem: KeyPair
    stranger: KeyPair  # never authorized

    def authorized(self) -> list[str]:
        return [key.public for key in (self.ed25519, self.ecdsa_pem, self.rsa, self.rsa_pem)]


@pytest.fixture(scope="session")
def ssh_keys() -> ClientKeys:
    """Client key pairs of every supported kind, made once per test session."""
    return ClientKeys(
        make_key("ed25519"), make_key("ecdsa", pem=True), make_key("rsa"), make_key("rsa", pem=True), make_key()
    )


def _serve(folder: Path, keys: ClientKeys, log_level: str = "INFO") -> Iterator[SSHServer]:
    if not SSHD.exists():
        pytest.fail(MISSING, pytrace=False)
    server = SSHServer(folder, keys.authorized(), log_level)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, ssh_keys: ClientKeys) -> Iterator[SSHServer]:
    """The SSH server the tests log in to (the "remote" host is this machine)."""
    yield from _serve(tmp_path_factory.mktemp("sshd"), ssh_keys)


@pytest.fixture(scope="session")
def jump_sshd(tmp_path_factory: pytest.TempPathFactory, ssh_keys: ClientKeys) -> Iterator[SSHServer]:
    """A second server, used as the jump host (its log shows the forwarded connections)."""
    yield from _serve(tmp_path_factory.mktemp("jump_sshd"), ssh_keys, log_level="DEBUG1")
