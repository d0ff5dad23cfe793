"""Provenance recorded with every data set and checkpoint: versions, git hash, seed, time."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("invtools", "torch", "numpy", "scipy", "scikit-fem", "pyamg", "h5py")


def git_hash() -> str | None:
    """Commit of the source tree invtools is imported from (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def provenance(seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """A JSON-serialisable record of how something was produced."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"seed": seed, "versions": versions, "python": platform.python_version(),
            "git": git_hash(), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            **extra}
