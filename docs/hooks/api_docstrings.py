"""mkdocs hook: every public module, class and function of the API reference has a docstring.

A missing one is logged as a warning, so ``mkdocs build --strict`` fails on it. An override of
a documented method of a project base class inherits that docstring (as ``inspect.getdoc``
does), and ``forward``/``extra_repr`` of torch modules are documented by their class.
Run by hand: ``python docs/hooks/api_docstrings.py`` lists what is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import griffe

PACKAGES = ("invtools", "forward_models")
TORCH_PROTOCOL = {"forward", "extra_repr"}
ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("mkdocs.hooks.api_docstrings")


def _inherited_doc(cls: griffe.Class, name: str) -> bool:
    try:
        bases = cls.mro()
    except Exception:  # a base outside the loaded packages
        bases = []
    return any(name in b.members and not b.members[name].is_alias and b.members[name].docstring
               for b in bases)


def _walk(obj: griffe.Object, out: list[str]) -> None:
    for name, member in obj.members.items():
        if name.startswith("_") or member.is_alias or not (member.is_module or member.is_class
                                                            or member.is_function):
            continue
        if not member.docstring:
            exempt = obj.is_class and (name in TORCH_PROTOCOL or _inherited_doc(obj, name))
            if not exempt:
                out.append(f"{member.kind.value} {member.path}")
        if member.is_module or member.is_class:
            _walk(member, out)


def missing_docstrings() -> list[str]:
    """The public objects of :data:`PACKAGES` that have no docstring (``kind dotted.path``)."""
    out: list[str] = []
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    for pkg in PACKAGES:
        module = loader.load(pkg)
        loader.resolve_aliases(implicit=False, external=False)
        if not module.docstring:
            out.append(f"module {pkg}")
        _walk(module, out)
    return out


def on_pre_build(config, **kwargs) -> None:
    for item in missing_docstrings():
        log.warning("missing docstring: %s", item)


if __name__ == "__main__":
    found = missing_docstrings()
    print("\n".join(found) or "every public object has a docstring")
    raise SystemExit(1 if found else 0)
