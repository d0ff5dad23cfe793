"""The dependency direction: forward_models -> invtools, never back; no import cycles, lazy
(function-level) imports included; a package grouped by role, with few loose modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ("invtools", "forward_models")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.Module, module_level: bool):
    if not module_level:
        yield from (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
        return
    stack = list(tree.body)
    while stack:  # statements run at import time: the body, and if/try blocks in it
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)) and not _is_type_checking(node):
            stack.extend(ast.iter_child_nodes(node))


def imports(name: str, module_level: bool) -> set[str]:
    """The modules of these packages that ``name`` imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text()), module_level):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        found |= {t for t in targets if t.split(".")[0] in PACKAGES and t in MODULES}
    return found - {name}


def test_invtools_never_imports_a_forward_model():
    upward = {(m, t) for m in MODULES if m.startswith("invtools")
              for t in imports(m, module_level=False) if t.startswith("forward_models")}
    assert not upward, f"invtools imports forward models directly (use invtools.operators.plugins): {upward}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> the modules it imports), or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return [*path, m, t]
            if t not in state and (found := visit(t, [*path, m])):
                return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m, [])):
            return found
    return None


def test_no_import_cycle_even_through_function_level_imports():
    for module_level in (True, False):
        cycle = find_cycle({m: imports(m, module_level) for m in MODULES})
        assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_invtools_is_grouped_by_role():
    loose = sorted(p.name for p in (ROOT / "invtools").glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 4, f"more than 4 loose modules at the top of invtools/: {loose}"
    tests = {p.parent.relative_to(ROOT / "tests").as_posix()
             for p in (ROOT / "tests" / "invtools").rglob("test_*.py")}
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "invtools").rglob("__init__.py")}
    assert tests <= packages, f"test folders without a package of that name: {sorted(tests - packages)}"


def test_classical_methods_do_not_depend_on_the_nets():
    seen, todo = set(), [m for m in MODULES if m.startswith("invtools.classical")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imports(m, module_level=False))
    assert not {m for m in seen if m.startswith("invtools.nets")}, sorted(seen)


def test_the_checks_see_imports():  # the walker itself: a known edge of each kind is found
    assert "invtools.operators" in imports("forward_models.eit.forward", module_level=True)
    assert "invtools.operators.plugins" in imports("invtools.data.recipes", module_level=True)
    assert "invtools.data.recipes" in imports("invtools.devices.ktc2023.adapter", module_level=False)
    assert "invtools.data.recipes" not in imports("invtools.devices.ktc2023.adapter", module_level=True)


def test_the_package_face_gives_the_public_api_without_loading_the_workflow():
    """``import invtools`` (which every forward model's import of invtools.operators runs) loads
    the operator interface only; each other public name resolves on first use."""
    import subprocess
    import sys

    code = ("import sys, invtools\n"
            "assert not [m for m in sys.modules if m.startswith(('invtools.workflow', 'invtools.training', "
            "'invtools.data'))], sorted(m for m in sys.modules if m.startswith('invtools'))\n"
            "missing = [n for n in invtools.__all__ if getattr(invtools, n, None) is None]\n"
            "assert not missing, missing\n"
            "from invtools import load_model, reconstruct\n"
            "assert load_model.__module__ == 'invtools.training.trained_model'\n"
            "assert reconstruct.__module__ == 'invtools.workflow.reconstruct'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
