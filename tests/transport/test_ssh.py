"""SSHTransport and TransportPool against a real OpenSSH server on 127.0.0.1.

The "remote" host is this machine, reached through sshd: commands, their quoting, the
host key rules, authentication, jump hosts, the connection reuse of a cycle, and a real
trainer stopped over SSH. No test may let key material reach a message or a log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.sshd import ClientKeys, SSHServer, free_port, make_key
from stoppers.helpers import TRAINER, is_running, wait_for
from training_check.clock import SystemClock
from training_check.config import Config, HostConfig
from training_check.model import StopKind, StopOutcome, StopTarget
from training_check.stoppers import SignalStopper
from training_check.transport import LocalTransport, TransportError
from training_check.transport.errors import AuthenticationFailed, HostKeyChanged, HostKeyUnknown, HostUnreachable
from training_check.transport.pool import TransportPool
from training_check.transport.ssh import SSHTransport


def connect(server: SSHServer, host: HostConfig, environ: dict[str, str]) -> SSHTransport:
    return SSHTransport(host, {host.name: host}, environ)


@pytest.fixture
def box(sshd: SSHServer, ssh_keys: ClientKeys) -> Iterator[SSHTransport]:
    """A transport to the test server with the usual key and known_hosts."""
    with connect(sshd, sshd.host(), sshd.environ(ssh_keys.ed25519)) as transport:
        yield transport


# --- commands ---------------------------------------------------------------------


def test_exit_codes_and_both_outputs_come_back(box: SSHTransport) -> None:
    result = box.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert box.run(["true"]).exit_code == 0
    assert box.run(["no-such-program-here"]).exit_code == 127  # as the stoppers expect


def test_arguments_arrive_literally_without_shell_interpretation(box: SSHTransport) -> None:
    tricky = ["a b", "it's", 'say "hi"', "x; touch /tmp/pwned", "$(id -u)", "`id`", "$HOME", "*", "a\\b", "", "é ✓"]
    result = box.run(["printf", "%s\\n", *tricky])
    assert result.exit_code == 0
    assert result.stdout.split("\n")[:-1] == tricky


def test_large_output_is_read_whole(box: SSHTransport) -> None:
    result = box.run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; head -c 200000 /dev/zero >&2"])
    assert len(result.stdout) == 3_000_000 and len(result.stderr) == 200_000


def test_a_command_that_runs_too_long_is_cut_off(box: SSHTransport) -> None:
    began = time.monotonic()
    with pytest.raises(TransportError, match=r"`sleep` on box did not finish in 0.5 s"):
        box.run(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - began < 3
    assert box.run(["echo", "still usable"]).stdout == "still usable\n"
    assert box.connections == 1


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa_pem", "rsa", "rsa_pem"])
def test_every_supported_key_kind_logs_in(sshd: SSHServer, ssh_keys: ClientKeys, kind: str) -> None:
    key = getattr(ssh_keys, kind)
    with connect(sshd, sshd.host(), sshd.environ(key)) as transport:
        assert transport.run(["echo", kind]).stdout == f"{kind}\n"


def test_a_key_pasted_with_crlf_or_escaped_newlines_still_works(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    for text in (ssh_keys.ed25519.private.replace("\n", "\r\n"), ssh_keys.ed25519.private.replace("\n", "\\n")):
        environ = {**sshd.environ(ssh_keys.ed25519), "TC_TEST_SSH_KEY": text}
        with connect(sshd, sshd.host(), environ) as transport:
            assert transport.run(["true"]).exit_code == 0


def test_a_connection_that_dropped_is_opened_again(box: SSHTransport, sshd: SSHServer) -> None:
    assert box.run(["true"]).exit_code == 0
    assert sshd.proc is not None
    # sshd serves each connection from a child process: ending it drops our connection.
    children = LocalTransport().run(["pgrep", "-P", str(sshd.proc.pid)]).stdout.split()
    for child in children:
        os.kill(int(child), signal.SIGTERM)
    assert box.run(["echo", "again"]).stdout == "again\n"
    assert box.connections == 2


# --- stopping a real trainer over SSH ----------------------------------------------


@pytest.fixture
def remote_trainer(box: SSHTransport, tmp_path: Path) -> Iterator[int]:
    """A stand-in trainer started over SSH in its own session; its PID (killed at the end)."""
    # setsid -f detaches it; its output must not hold the SSH channel open.
    detach = 'exec setsid -f "$@" </dev/null >/dev/null 2>&1'
    started = box.run(["sh", "-c", detach, "sh", sys.executable, str(TRAINER), str(tmp_path)])
    assert started.exit_code == 0, started.stderr
    assert wait_for((tmp_path / "ready").exists, timeout=10)
    pid = int((tmp_path / "pid").read_text())
    yield pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def test_a_signal_stopper_stops_a_trainer_over_ssh_with_sigint_first(
    box: SSHTransport, remote_trainer: int, tmp_path: Path
) -> None:
    stopper = SignalStopper(box, SystemClock(), 10.0, poll_seconds=0.05, verify_seconds=3.0)
    saves: list[object] = []
    target = StopTarget(StopKind.PID, str(remote_trainer))
    record = stopper.stop(target, time.time() - 30, None, saves.append, "rule", "loss is NaN")
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert [step.action for step in record.steps] == ["SIGINT", "exited"]
    assert (tmp_path / "got_SIGINT").exists() and (tmp_path / "checkpoint").exists()
    assert not (tmp_path / "got_SIGTERM").exists()
    assert not is_running(remote_trainer)
    assert box.connections == 1  # every ps, date and kill on the one connection


# --- host keys ---------------------------------------------------------------------


def test_an_unknown_host_key_is_refused(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    other = f"[127.0.0.1]:{free_port()} {make_key().public}"  # known_hosts of another host only
    with pytest.raises(HostKeyUnknown) as caught:
        connect(sshd, sshd.host(), sshd.environ(ssh_keys.ed25519, other)).run(["true"])
    error = caught.value
    assert str(error).startswith(f"box (root@127.0.0.1:{sshd.port}) offered the host key ssh-ed25519 SHA256:")
    assert error.tip is not None
    assert f"`ssh-keyscan -p {sshd.port} 127.0.0.1`" in error.tip and "TC_TEST_KNOWN_HOSTS" in error.tip


@pytest.mark.parametrize("accept_new", [False, True])
def test_a_changed_host_key_is_always_refused(sshd: SSHServer, ssh_keys: ClientKeys, accept_new: bool) -> None:
    forged = f"[127.0.0.1]:{sshd.port} {make_key().public}"
    host = sshd.host(accept_new_host_keys=accept_new)
    with pytest.raises(HostKeyChanged, match="CHANGED") as caught:
        connect(sshd, host, sshd.environ(ssh_keys.ed25519, forged)).run(["true"])
    assert caught.value.tip is not None and "machine-in-the-middle" in caught.value.tip


def test_accept_new_host_keys_trusts_a_first_key(
    sshd: SSHServer, ssh_keys: ClientKeys, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {**sshd.environ(ssh_keys.ed25519), "TC_TEST_KNOWN_HOSTS": ""}
    with connect(sshd, sshd.host(accept_new_host_keys=True), environ) as transport:
        assert transport.run(["echo", "in"]).stdout == "in\n"
    assert "accepted the new host key ssh-ed25519 SHA256:" in caplog.text


# --- authentication and reachability -------------------------------------------------


def test_a_key_the_host_does_not_know_is_refused(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    with pytest.raises(AuthenticationFailed, match="did not accept our key") as caught:
        connect(sshd, sshd.host(), sshd.environ(ssh_keys.stranger)).run(["true"])
    assert caught.value.tip is not None and "authorized_keys" in caught.value.tip


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "TC_TEST_SSH_KEY (key_env) is empty or not set"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----", "is not an"),
    ],
)
def test_a_missing_or_unreadable_key_is_named(sshd: SSHServer, ssh_keys: ClientKeys, secret: str, problem: str) -> None:
    environ = {**sshd.environ(ssh_keys.ed25519), "TC_TEST_SSH_KEY": secret}
    with pytest.raises(AuthenticationFailed, match=re.escape(problem)):
        connect(sshd, sshd.host(), environ).run(["true"])


def test_a_closed_port_is_unreachable_at_once(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    began = time.monotonic()
    with pytest.raises(HostUnreachable, match="refused the connection"):
        connect(sshd, sshd.host(port=free_port()), sshd.environ(ssh_keys.ed25519)).run(["true"])
    assert time.monotonic() - began < 1


def test_a_host_that_never_answers_times_out(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = sshd.host(port=silent.getsockname()[1], timeout_seconds=0.5)
        began = time.monotonic()
        with pytest.raises(HostUnreachable, match=r"did not answer within 0.5 s"):
            connect(sshd, host, sshd.environ(ssh_keys.ed25519)).run(["true"])
        assert time.monotonic() - began < 3


def test_an_unknown_host_name_is_unreachable(sshd: SSHServer, ssh_keys: ClientKeys) -> None:
    with pytest.raises(HostUnreachable, match="cannot resolve"):
        connect(sshd, sshd.host(hostname="no-such-host.invalid"), sshd.environ(ssh_keys.ed25519)).run(["true"])


# --- jump hosts and the pool ---------------------------------------------------------


def jump_config(sshd: SSHServer, jump_sshd: SSHServer) -> Config:
    hosts = {"target": sshd.host("target", proxy_jump="jump"), "jump": jump_sshd.host("jump")}
    return Config(hosts=hosts)


def test_proxy_jump_reaches_the_target_through_the_jump_host(
    sshd: SSHServer, jump_sshd: SSHServer, ssh_keys: ClientKeys
) -> None:
    config = jump_config(sshd, jump_sshd)
    environ = sshd.environ(ssh_keys.ed25519, sshd.known_hosts_line, jump_sshd.known_hosts_line)
    logins, jump_logins = sshd.accepted(), jump_sshd.accepted()
    with SSHTransport(config.hosts["target"], config.hosts, environ) as transport:
        assert transport.run(["echo", "via jump"]).stdout == "via jump\n"
    assert (sshd.accepted() - logins, jump_sshd.accepted() - jump_logins) == (1, 1)
    assert f"target 127.0.0.1 port {sshd.port}" in jump_sshd.log()  # the jump host forwarded it


def test_a_proxy_jump_loop_is_refused() -> None:
    hosts = {"a": HostConfig("a", "h", proxy_jump="b"), "b": HostConfig("b", "h", proxy_jump="a")}
    with pytest.raises(TransportError, match="proxy_jump loops: a -> b -> a"):
        SSHTransport(hosts["a"], hosts, {})


def test_the_pool_connects_each_host_once_per_cycle(
    sshd: SSHServer, jump_sshd: SSHServer, ssh_keys: ClientKeys, tmp_path: Path
) -> None:
    config = jump_config(sshd, jump_sshd)
    environ = sshd.environ(ssh_keys.ed25519, sshd.known_hosts_line, jump_sshd.known_hosts_line)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    logins, jump_logins = sshd.accepted(), jump_sshd.accepted()
    with TransportPool(config, environ) as pool:
        assert isinstance(pool.for_host(None), LocalTransport)
        for _ in range(3):
            for name in ("target", "jump"):
                assert pool.for_host(name).run(["true"]).exit_code == 0
            with pool.ssh("target").sftp().open(str(tmp_path / "metrics.jsonl")) as file:
                assert b"loss" in file.read()
        assert pool.connections == 2  # the jump host's one connection also carries the target's
    assert (sshd.accepted() - logins, jump_sshd.accepted() - jump_logins) == (1, 1)
    # The next cycle connects again.
    with TransportPool(config, environ) as pool:
        pool.for_host("target").run(["true"])
        assert pool.connections == 2


def test_the_pool_names_an_unknown_host() -> None:
    with pytest.raises(TransportError, match="no host named 'gpu9'") as caught:
        TransportPool(Config(hosts={"gpu1": HostConfig("gpu1", "h")}), {}).for_host("gpu9")
    assert caught.value.tip == "add it to `hosts:` (configured: gpu1)"


# --- secrets never leak --------------------------------------------------------------


def failures(sshd: SSHServer, keys: ClientKeys) -> Iterator[BaseException]:
    """Every way of failing to connect that involves keys, each one's exception."""
    forged = f"[127.0.0.1]:{sshd.port} {make_key().public}"
    truncated = {**sshd.environ(keys.ed25519), "TC_TEST_SSH_KEY": keys.ed25519.private[:-60]}
    cases: list[tuple[HostConfig, dict[str, str], type[TransportError]]] = [
        (sshd.host(), sshd.environ(keys.ed25519, f"[127.0.0.1]:1 {make_key().public}"), HostKeyUnknown),
        (sshd.host(), sshd.environ(keys.ed25519, forged), HostKeyChanged),
        (sshd.host(accept_new_host_keys=True), sshd.environ(keys.rsa, forged), HostKeyChanged),
        (sshd.host(), sshd.environ(keys.stranger), AuthenticationFailed),
        (sshd.host(), truncated, AuthenticationFailed),
    ]
    for host, environ, expected in cases:
        with pytest.raises(expected) as caught:
            connect(sshd, host, environ).run(["true"])
        yield caught.value


def test_no_key_material_reaches_messages_logs_or_reprs(
    sshd: SSHServer, ssh_keys: ClientKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="paramiko")
    caplog.set_level(logging.DEBUG, logger="training_check")
    shown: list[str] = []
    for error in failures(sshd, ssh_keys):
        shown += [str(error), repr(error), str(getattr(error, "tip", "")), *traceback.format_exception(error)]
    with connect(sshd, sshd.host(accept_new_host_keys=True), sshd.environ(ssh_keys.ecdsa_pem, "")) as transport:
        transport.run(["true"])
        transport.sftp().listdir(str(sshd.folder))
        shown.append(repr(transport))
    shown.append(caplog.text)
    shown += [str(record.args) for record in caplog.records]
    text = "\n".join(shown)
    assert len(shown) > 20 and "SHA256:" in text  # fingerprints may be shown, and are
    secrets = [ssh_keys.ed25519, ssh_keys.rsa, ssh_keys.ecdsa_pem, ssh_keys.stranger]
    for key in secrets:
        assert key.secret_body not in text.replace("\n", "")
        for line in key.private.splitlines()[2:-2]:  # past the format's constant first line
            assert line not in text
    assert sshd.host_key.public_base64 not in text  # known_hosts content, ours or forged
    assert "AAAAC3NzaC1lZDI1NTE5AAAAI" not in text  # the start of any Ed25519 public key
