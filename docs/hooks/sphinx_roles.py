"""griffe extension: the docstrings' Sphinx roles (``:class:`~invtools.data.H5Dataset```,
``:func:`.interface.operator_from_config```, ``:meth:`predict```) become mkdocstrings
cross-references, so the API reference links them and a role whose target does not exist is a
build warning (``mkdocs build --strict`` fails on it).

A target is resolved like Sphinx does: a dotted name from the package root; ``.name`` from the
current package; a bare name in the current class, module or package. ``~`` shows only the last
part. Names outside invtools and forward_models (``torch.Tensor``) and private names stay
plain code.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|mod|meth|attr|data|exc|obj):`(~?)([\w.]+)(?:\(\))?`")
ROOTS = ("invtools", "forward_models")
log = logging.getLogger("mkdocs.hooks.sphinx_roles")


def _find(root: dict[str, griffe.Object], path: str) -> griffe.Object | None:
    head, *rest = path.split(".")
    obj: Any = root.get(head)
    for part in rest:
        if obj is None:
            return None
        try:
            obj = obj.members.get(part)
        except Exception:  # an alias that points outside the loaded packages
            return None
    return obj


def _package(obj: griffe.Object) -> griffe.Object:
    module = obj if obj.is_module else obj.module
    is_package = module.is_package or module.is_subpackage
    return module if is_package else module.parent  # type: ignore[return-value]


def resolve(obj: griffe.Object, target: str, root: dict[str, griffe.Object]) -> str | None:
    """The dotted path ``target`` names from ``obj``'s docstring, or None where it names nothing."""
    if target.startswith("."):
        base = _package(obj)
        candidates = [f"{base.path}{target}"]
    elif target.split(".")[0] in ROOTS:
        candidates = [target]
    else:
        scopes = [s for s in (obj if obj.is_class else None, obj.parent if obj.is_function else None,
                              obj.module, _package(obj)) if s is not None]
        candidates = [f"{s.path}.{target}" for s in scopes]
    for c in candidates:
        found = _find(root, c)
        if found is not None:
            try:
                return found.final_target.path if found.is_alias else found.path
            except Exception:
                return c
    return None


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once the whole package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        root = {name: m for name, m in loader.modules_collection.members.items() if name in ROOTS}
        root[pkg.name] = pkg
        todo: list[griffe.Object] = [pkg]
        while todo:
            obj = todo.pop()
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(lambda m, o=obj: self._link(o, m, root), obj.docstring.value)
            todo.extend(m for m in obj.members.values() if not m.is_alias)

    @staticmethod
    def _link(obj: griffe.Object, match: re.Match, root: dict[str, griffe.Object]) -> str:
        short, target = match.group(1) == "~", match.group(2)
        text = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        external = not target.startswith(".") and "." in target and target.split(".")[0] not in ROOTS
        if external or any(part.startswith("_") for part in target.split(".") if part):
            return f"`{text}`"  # outside the packages, or private: not in the reference
        path = resolve(obj, target, root)
        if path is None:
            log.warning("%s: docstring names %r, which does not exist", obj.path, target)
            return f"`{text}`"
        return f"[`{text}`][{path}]"
