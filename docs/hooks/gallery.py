"""mkdocs hook: the examples gallery, made from the scripts in ``examples/``.

- ``examples/<name>.md``: each script as a page, its docstring as the text (the first line the
  title), its code as one Python block, and the command that runs it;
- ``examples/index.md``: the list of them, with each one's first paragraph.

``tests/examples`` runs every script and checks the figure it pins, so what the pages show runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def scripts() -> list[Path]:
    """The example scripts, in the order of their names."""
    return sorted(EXAMPLES.glob("[0-9]*.py"))


def split(path: Path) -> tuple[str, str, str]:
    """(title, text, code) of a script: its docstring's first line, the rest of the docstring,
    and the source after the docstring."""
    source = path.read_text()
    module = ast.parse(source)
    doc = ast.get_docstring(module)
    if not doc or not isinstance(module.body[0], ast.Expr):
        raise ValueError(f"{path}: an example starts with a docstring (its first line the title)")
    title, _, text = doc.partition("\n")
    code = "\n".join(source.splitlines()[module.body[0].end_lineno:]).strip("\n")
    return title.strip(), text.strip(), code


def example_page(path: Path) -> str:
    """The page of one example."""
    title, text, code = split(path)
    return (f"# {title}\n\n{text}\n\nRun it from the checkout: `python examples/{path.name}` "
            f"(the tests run it and check its pinned figure).\n\n```python\n{code}\n```\n")


def index_page() -> str:
    """The gallery's front page: each example's title, linked, and its first sentence."""
    lines = ["# Examples\n",
             "Short scripts, each runnable on its own on a laptop's CPU in seconds (half a minute for "
             "the tank). Each one prints one figure that the tests pin (`tests/examples`), so each "
             "page shows code that runs and gives that figure.\n"]
    for path in scripts():
        title, text, _ = split(path)
        first = " ".join(text.split()).split(". ")[0].rstrip(".")
        lines.append(f"- [{title}]({path.stem}.md): {first}.")
    return "\n".join(lines) + "\n"


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "examples/index.md", content=index_page()))
    for path in scripts():
        files.append(File.generated(config, f"examples/{path.stem}.md", content=example_page(path)))
    return files
