"""SSH keys from secrets: the client's private key, the known_hosts lines, host key policies.

Nothing here ever quotes a key, a secret or paramiko's exception text (which may hold key
bytes) in a message or log line: only variable names, line numbers and fingerprints.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping

import paramiko

from ..config import HostConfig
from .errors import AuthenticationFailed, HostKeyUnknown, key_tip, unknown_key_tip, where

log = logging.getLogger(__name__)
_KEY_KINDS: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuse a host whose key is not in known_hosts (paramiko's RejectPolicy, our error)."""

    def __init__(self, host: HostConfig) -> None:
        self.host = host

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyUnknown(
            f"{where(self.host)} offered the host key {fingerprint(key)}, which is not in known_hosts; refused",
            tip=unknown_key_tip(self.host),
        )


class AcceptNewKey(paramiko.MissingHostKeyPolicy):
    """Trust a host's first key (OpenSSH's `accept-new`), for this connection only."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("%s: accepted the new host key %s (accept_new_host_keys)", hostname, fingerprint(key))


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def load_private_key(host: HostConfig, environ: Mapping[str, str]) -> paramiko.PKey | None:
    """The private key from `environ[host.key_env]`; None when the host names no key."""
    if host.key_env is None:
        return None
    text = environ.get(host.key_env, "").strip()
    if not text:
        raise AuthenticationFailed(
            f"{where(host)}: the environment variable {host.key_env} (key_env) is empty or not set",
            tip=key_tip(host),
        )
    if "\n" not in text and "\\n" in text:  # pasted with escaped newlines
        text = text.replace("\\n", "\n")
    text = text.replace("\r\n", "\n") + "\n"
    for kind in _KEY_KINDS:
        try:
            return kind.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            problem = "is encrypted with a passphrase"
            break
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            problem = "is not an Ed25519, ECDSA or RSA private key"
    # Nothing of the key or of paramiko's exception is quoted: both may hold key bytes.
    raise AuthenticationFailed(f"{where(host)}: the key in {host.key_env} {problem}", tip=key_tip(host))


def load_known_hosts(keys: paramiko.HostKeys, host: HostConfig, environ: Mapping[str, str]) -> int:
    """Add the known_hosts lines of `environ[host.known_hosts_env]` to `keys`; how many."""
    text = environ.get(host.known_hosts_env, "") if host.known_hosts_env else ""
    if host.known_hosts_env and not text.strip():
        log.warning("%s: the known_hosts variable %s is empty or not set", host.name, host.known_hosts_env)
    added = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line.strip(), number)
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError):
            entry = None
        if entry is None or entry.key is None:
            log.warning("%s: line %d of %s is not a known_hosts line; ignored", host.name, number, host.known_hosts_env)
            continue
        for name in entry.hostnames:
            keys.add(name, entry.key.get_name(), entry.key)
            added += 1
    return added
