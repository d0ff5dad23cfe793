"""Refuse output paths that would destroy something: an input, another output, a device node.

Every CLI command calls :func:`check_outputs` before it reads or writes anything, so nothing the
user did not name as an output is ever written or replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

PathLike = str | os.PathLike


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symbolic and hard links, ``..`` included)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, PathLike | None], inputs: Iterable[PathLike | None],
                  overwrite: bool = False) -> None:
    """Raise ``ValueError`` naming the option when an output path is unsafe.

    Args:
        outputs: option name (e.g. ``"--out"``) -> path the command will write (None: unused).
        inputs: paths the command reads (None entries are skipped).
        overwrite: allow replacing an existing regular file that is no input.
    """
    named = {k: Path(v) for k, v in outputs.items() if v is not None}
    sources = [Path(p) for p in inputs if p is not None]
    seen: dict[str, Path] = {}
    for option, path in named.items():
        for src in sources:
            if _same(path, src):
                raise ValueError(f"{option} {path} is an input of this command ({src}); "
                                 "choose another output path")
        for other, prev in seen.items():
            if _same(path, prev):
                raise ValueError(f"{option} {path} is the same file as {other}; choose another path")
        seen[option] = path
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ValueError(f"{option} {path} exists and is not a regular file; refusing to replace it")
        if path.exists() and not overwrite:
            raise ValueError(f"{option} {path} exists; pass --overwrite to replace it")
