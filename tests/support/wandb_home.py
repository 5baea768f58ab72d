"""Keeping the wandb SDK inside a test: its directories in a temporary folder, no key or
server from outside, and its `wandb-core` helper torn down before and after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import wandb

from training_check.sources.wandb_sdk import bound_sdk_retries


@contextmanager
def isolated_wandb(root: Path) -> Iterator[Path]:
    """Every W&B directory under `root` while the block runs; the SDK's helper fresh on entry."""
    wandb.teardown()  # a helper started elsewhere would not see these settings
    bound_sdk_retries.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DIR", "CONFIG_DIR", "CACHE_DIR", "DATA_DIR", "ARTIFACT_DIR"):
            patch.setenv(f"WANDB_{name}", str(root / name.lower()))
        patch.setenv("WANDB_SILENT", "true")
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        for name in ("API_KEY", "BASE_URL", "ENTITY", "PROJECT", "MODE", "DEBUG", "HTTP_TIMEOUT"):
            patch.delenv(f"WANDB_{name}", raising=False)
        try:
            yield root
        finally:
            wandb.teardown()
            bound_sdk_retries.cache_clear()
