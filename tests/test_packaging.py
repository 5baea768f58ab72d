"""What a real (not editable) install gets: the action installs the package from its path."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_templates_and_the_schema(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("training_check-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "src" / "training_check" / "report" / "templates").glob("*.j2")}
    assert templates and {f"training_check/report/templates/{t}" for t in templates} <= names
    assert "training_check/data/config.schema.json" in names
    assert "training_check/py.typed" in names
