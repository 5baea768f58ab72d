"""Commands on this machine, without a shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from .interface import CommandResult, TransportError


class LocalTransport:
    """Runs commands as child processes of the checker (no shell, so no quoting issues)."""

    name = "local"

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as e:
            raise TransportError(f"`{argv[0]}` is not installed on this machine") from e
        except subprocess.TimeoutExpired as e:
            raise TransportError(f"`{argv[0]}` did not finish in {timeout:.0f} s") from e
        except OSError as e:
            raise TransportError(f"could not run `{argv[0]}`: {e.strerror}") from e
        return CommandResult(done.returncode, done.stdout, done.stderr)
