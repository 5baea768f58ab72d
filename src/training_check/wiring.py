"""Choosing the parts of a cycle from the config and the environment (CLI and Action alike)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .clock import Clock
from .config import Config
from .cycle import Parts
from .fetching import run_sources
from .history_store import HistoryStore
from .reviewers import OpenAIReviewer, Reviewer
from .sources.wandb_evidence import save_stop_evidence
from .sources.wandb_sdk import ApiFactory, api_factory
from .trackers import Tracker
from .transport.pool import TransportPool
from .watchlist import WatchEntry


def wandb_api(environ: Mapping[str, str]) -> ApiFactory | None:
    """The W&B API when a key is given ($WANDB_API_KEY; $WANDB_BASE_URL for a private server)."""
    key = environ.get("WANDB_API_KEY", "").strip()
    if not key:
        return None
    return api_factory(base_url=environ.get("WANDB_BASE_URL") or None, api_key=key)


def reviewer_for(config: Config, environ: Mapping[str, str]) -> Reviewer | None:
    """The configured LLM reviewer (its key from the environment variable the config names)."""
    if config.reviewer is None:
        return None
    return OpenAIReviewer(config.reviewer, environ.get(config.reviewer.api_key_env))


def build_parts(
    config: Config,
    tracker: Tracker,
    clock: Clock,
    pool: TransportPool,
    *,
    environ: Mapping[str, str],
    cache: Path | None,
) -> Parts:
    """Everything a cycle needs: sources (W&B, then logs over SSH or local), reviewer, stoppers."""
    wandb = wandb_api(environ)

    def evidence(entry: WatchEntry, text: str) -> None:
        if wandb is not None and entry.wandb is not None:
            save_stop_evidence(wandb, entry.wandb, text)

    return Parts(
        config,
        tracker,
        clock,
        reviewer_for(config, environ),
        pool.for_host,
        run_sources(pool.for_host, wandb),
        HistoryStore(cache),
        evidence if wandb is not None else None,
    )
