"""`training-check demo`: example runs that show what the tool does, with nothing to set up."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def example_files() -> list[Path]:
    """The example histories shipped inside the package, in a stable order."""
    folder = resources.files("training_check") / "data" / "examples"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jsonl"))
