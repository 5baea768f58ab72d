"""Leave the evidence of a stop on the W&B run itself: a note and a tag, via the SDK.

Whoever opens the run in W&B then sees why training-check stopped it. `run.update()`
also writes back the run's config and summary as just loaded, so the run is loaded
afresh right before, keeping the window in which it could overwrite newer values short.
"""

from __future__ import annotations

import time
from typing import Any

from training_check.sources.errors import SourceError
from training_check.sources.wandb_sdk import (
    DEADLINE_S,
    ApiFactory,
    bound_sdk_retries,
    describe_failure,
    with_deadline,
)

STOP_TAG = "training-check:stopped"
SEPARATOR = "\n\n---\n\n"  # between the notes already there and ours


def save_stop_evidence(api_factory: ApiFactory, path: str, text: str, deadline: float = DEADLINE_S) -> None:
    """Append `text` to the run's notes and tag it `training-check:stopped`.

    Raises `SourceError` or `SourceUnreachable`; the caller reports it and goes on (the
    stop itself does not depend on this).
    """
    started = time.monotonic()
    try:
        with_deadline(deadline, lambda: _write(api_factory, path, text))
    except SourceError:
        raise
    except Exception as error:
        raise describe_failure(error, path, time.monotonic() - started) from None


def _write(api_factory: ApiFactory, path: str, text: str) -> None:
    bound_sdk_retries()
    run: Any = api_factory().run(path)
    notes = str(run.notes or "").rstrip()
    if text.strip() not in notes:  # a retried save must not add the evidence twice
        run.notes = f"{notes}{SEPARATOR}{text.strip()}" if notes else text.strip()
    if STOP_TAG not in run.tags:
        run.tags.append(STOP_TAG)
    run.update()
