"""mkdocs hook: pages made from files outside ``docs/``, so they are never copied by hand.

- ``benchmarks.md``: ``benchmarks/README.md`` (every table with its command), and
  ``benchmarks/results/*.png``, the figures the results page shows;
- ``changelog.md``: ``CHANGELOG.md`` (what changed, and the superseded benchmark tables);
- ``notebooks/<name>.md``: each notebook in ``notebooks/``, its markdown and code cells (the
  notebooks are stored without outputs; ``tests/notebooks`` runs them);
- ``api/<package>.md``: the API reference of each package, one ``:::`` block per module, so a
  new module is in the reference the day it lands.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
API_PACKAGES = ("invtools", "invtools.operators", "invtools.classical", "invtools.nets",
                "invtools.solver_layers", "invtools.data", "invtools.training", "invtools.analysis",
                "invtools.workflow", "invtools.support", "forward_models")


# links written for the repository (benchmarks/README.md, CHANGELOG.md) -> the site's pages
SITE_LINKS = {"](../docs/": "](", "](../CHANGELOG.md)": "](changelog.md)",
              "](benchmarks/README.md)": "](benchmarks.md)"}


def site_links(text: str) -> str:
    """A repository Markdown file's links to other pages, as links between the site's pages."""
    for repo, site in SITE_LINKS.items():
        text = text.replace(repo, site)
    return text


def notebook_markdown(path: Path) -> str:
    """A notebook as a page: its markdown cells as they are, its code cells as Python blocks."""
    cells = json.loads(path.read_text())["cells"]
    parts = [f"*This page is `notebooks/{path.name}`; run it with Jupyter.*\n"]
    for cell in cells:
        source = "".join(cell["source"]).rstrip()
        if source:
            parts.append(source if cell["cell_type"] == "markdown" else f"```python\n{source}\n```")
    return "\n\n".join(parts) + "\n"


def modules_of(package: str) -> list[str]:
    """The dotted names of ``package`` and the modules directly in it or in its sub-folders that
    are not API packages of their own (private ``_`` modules left out)."""
    folder = ROOT.joinpath(*package.split("."))
    others = {p for p in API_PACKAGES if p != package and p.startswith(package + ".")}
    names = [package]
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name == package or any(p.startswith("_") for p in name.split(".")) or any(
                name == o or name.startswith(o + ".") for o in others):
            continue
        names.append(name)
    return names


def api_page(package: str) -> str:
    """The reference page of ``package``: its docstring, then each module's."""
    blocks = [f"# `{package}`\n",
              f"::: {package}\n    options:\n      members: false\n      show_root_heading: false\n"]
    blocks += [f"::: {name}\n" for name in modules_of(package)[1:]]
    return "\n".join(blocks)


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "benchmarks.md",
                                content=site_links((ROOT / "benchmarks" / "README.md").read_text())))
    files.append(File.generated(config, "changelog.md",
                                content=site_links((ROOT / "CHANGELOG.md").read_text())))
    for png in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File.generated(config, f"benchmarks/results/{png.name}", abs_src_path=str(png)))
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(File.generated(config, f"notebooks/{nb.stem}.md", content=notebook_markdown(nb)))
    for package in API_PACKAGES:
        files.append(File.generated(config, f"api/{package}.md", content=api_page(package)))
    return files
