"""Why an SSH connection failed, as the project's own errors (never paramiko's).

Each names the host and says how to fix it. None may carry key material: paramiko's own
exceptions can hold whole public keys (`BadHostKeyException`), so they are never chained
into these; fingerprints (SHA256 hashes) are safe and shown instead.
"""

from __future__ import annotations

from ..config import HostConfig
from .interface import TransportError


class HostUnreachable(TransportError):
    """No SSH session could be set up: refused, unknown name, no answer, connection lost."""


class AuthenticationFailed(TransportError):
    """The host answered but did not accept our key (or we had no usable key)."""


class HostKeyUnknown(TransportError):
    """The host's key is not in known_hosts and new keys are not accepted."""


class HostKeyChanged(TransportError):
    """The host offered a key other than the one in known_hosts: always refused."""


def where(host: HostConfig) -> str:
    """`host` for messages: `gpu1 (alice@gpu1.example.org:2222)`."""
    user = f"{host.user}@" if host.user else ""
    return f"{host.name} ({user}{host.hostname}:{host.port})"


def keyscan(host: HostConfig) -> str:
    """The command that prints the host's known_hosts lines, and where to run it."""
    port = f"-p {host.port} " if host.port != 22 else ""
    command = f"`ssh-keyscan {port}{host.hostname}`"
    # A host behind a jump host is only reachable from there, as is its key.
    return f"{command} (run on {host.proxy_jump})" if host.proxy_jump else command


def unknown_key_tip(host: HostConfig) -> str:
    """How to make a host's key known."""
    secret = host.known_hosts_env
    target = f"the {secret} secret" if secret else f"a secret named by `hosts.{host.name}.known_hosts_env`"
    return (
        f"add the output of {keyscan(host)} to {target}, after checking its fingerprint; "
        f"or set `accept_new_host_keys: true` for {host.name} to trust the first key seen"
    )


def changed_key_tip(host: HostConfig) -> str:
    """What to do when a host's key changed."""
    secret = host.known_hosts_env or "known_hosts"
    return (
        "this can be a machine-in-the-middle attack; if the host was reinstalled or its keys "
        f"rotated, confirm the new fingerprint with its admin, then replace its line in the "
        f"{secret} secret with the output of {keyscan(host)}"
    )


def key_tip(host: HostConfig) -> str:
    """How to give a host our private key."""
    if host.key_env is None:
        return f"set `hosts.{host.name}.key_env` to the name of a secret holding a private key"
    return (
        f"pass the secret to the checker, e.g. `env: {host.key_env}: ${{{{ secrets.{host.key_env} }}}}`, "
        "holding an unencrypted Ed25519, ECDSA or RSA private key (PEM or OpenSSH format)"
    )


def authorized_tip(host: HostConfig) -> str:
    """How to make a host accept our key."""
    user = host.user or "the login user"
    secret = host.key_env or "the key"
    return (
        f"append the public key of {secret} (`ssh-keygen -y -f KEYFILE`) to "
        f"~/.ssh/authorized_keys of {user} on {host.hostname}, and check `user:`"
    )
