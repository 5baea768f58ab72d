"""Fetch GitHub's OpenAPI description, pinned, for the GitHub stand-in's response validation.

    python tests/servers/fetch_github_openapi.py

GitHub publishes its REST description as the npm package `@octokit/openapi`; this script
runs `npm pack` for one pinned version (the npm registry is the only source it needs),
checks the tarball against the registry's pinned `dist.integrity` (sha512), and extracts
`generated/api.github.com.json` (OpenAPI 3.0.3, ~13 MB) into tests/.cache/ (gitignored).
The extracted file's sha256 is pinned too, so a second run only hashes it and stops: the
script is idempotent and `make test` runs it before pytest. To move to a newer version,
change VERSION and INTEGRITY (`npm view @octokit/openapi@X dist.integrity`), run it once
with SPEC_SHA256 emptied to print the new file's hash, and pin that.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
# `npm view @octokit/openapi@23.0.2 dist.integrity`
INTEGRITY = "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
MEMBER = "package/generated/api.github.com.json"
# sha256 of MEMBER inside that verified tarball: lets a later run trust the extracted copy.
SPEC_SHA256 = "829b4bebb19a53133289f7b0bc819f4f1118115821db2ca9f25e9ee995a7da2a"

CACHE = Path(__file__).resolve().parent.parent / ".cache"
SPEC_PATH = CACHE / f"github-openapi-{VERSION}" / "api.github.com.json"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks (the file is ~13 MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_current(path: Path = SPEC_PATH) -> bool:
    """Whether the pinned spec is already extracted and intact."""
    return path.is_file() and sha256_of(path) == SPEC_SHA256


def npm_pack(folder: Path) -> Path:
    """Download the pinned tarball with npm (its ordinary client) into `folder`."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is missing: it downloads the pinned GitHub OpenAPI package (apt-get install npm)")
    spec = f"{PACKAGE}@{VERSION}"
    done = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    filename: str = json.loads(done.stdout)[0]["filename"]
    return folder / filename


def check_integrity(tarball: Path) -> None:
    """Refuse a tarball whose sha512 is not the pinned `dist.integrity`."""
    algorithm, expected = INTEGRITY.split("-", 1)
    digest = hashlib.new(algorithm)
    with tarball.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        sys.exit(f"{tarball.name}: integrity {algorithm}-{actual} is not the pinned {INTEGRITY}")


def extract(tarball: Path, target: Path) -> None:
    """Copy the one JSON member out (never `extractall`: no path from the archive is trusted)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with tarfile.open(tarball, "r:gz") as archive:
        source = archive.extractfile(MEMBER)
        if source is None:
            sys.exit(f"{tarball.name} has no {MEMBER}")
        with source, partial.open("wb") as out:
            shutil.copyfileobj(source, out)
    if SPEC_SHA256 and sha256_of(partial) != SPEC_SHA256:
        partial.unlink()
        sys.exit(f"{MEMBER}: sha256 differs from the pinned {SPEC_SHA256}")
    os.replace(partial, target)  # atomic: a reader never sees half a file


def main() -> int:
    """Fetch, verify and extract unless the verified file is already there."""
    if is_current():
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as folder:
        tarball = npm_pack(Path(folder))
        check_integrity(tarball)
        extract(tarball, SPEC_PATH)
    print(f"{PACKAGE}@{VERSION}: {SPEC_PATH.relative_to(CACHE.parent.parent)} (sha256 {sha256_of(SPEC_PATH)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
