"""Run the code of a Markdown page as written: its Python blocks in order in one namespace
(cvxpylayers' habit), and its shell commands in order in one folder laid out as a clone.
Used by ``test_readme.py`` (the README) and ``test_docs.py`` (the documentation pages)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

ROOT = Path(__file__).parents[1]

# Commands too long for CI run with the same flags on a smaller -n (every other flag as written):
SMALLER = {
    "-n 4000": "-n 48",  # blur training set: 4000 signals and 20 epochs take minutes
    "-n 500": "-n 16",   # blur validation set
    "-n 400": "-n 12",   # EIT and thorax training sets: 400 phantoms, 6 epochs take minutes
    "-n 50": "-n 6",     # EIT and thorax validation sets
}
DEMO_N = "-n 64"  # the demo's 1024 training signals and 20 epochs take a minute: 64 in CI
SKIPPED = {
    "pip": "bash .ci/run installs the package as the README writes it, before the tests",
    "python": "python -m pytest -q is this very run",
    "mkdocs": "bash .ci/run builds the documentation with --strict",
}


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of ``page``, in order."""
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def run_python(page: Path) -> dict:
    """Run the Python blocks of ``page`` in order in one namespace; return the namespace."""
    namespace: dict = {}
    for i, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page.name} python block {i + 1}", "exec"), namespace)  # noqa: S102
    return namespace


def shell_commands(page: Path) -> list[str]:
    """Every command of the page's bash blocks: continuation lines joined, comments dropped,
    ``&&`` chains split."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands += [c.strip() for c in shlex.join(words).split(" '&&' ")]
    return commands


def ci_form(command: str) -> str:
    """The command as CI runs it (SMALLER sizes; the demo with DEMO_N)."""
    for written, small in SMALLER.items():
        command = re.sub(rf"{re.escape(written)}(?!\d)", small, command)
    if command.startswith("invtools demo"):
        command += f" {DEMO_N}"
    return command


def make_clone(tmp_path: Path, ktc: Path | None) -> Path:
    """A folder laid out as the clone (datasets/, invtools/presets/, ../shared/ktc2023 when the
    measurements are here)."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "datasets", clone / "datasets")
    shutil.copytree(ROOT / "invtools" / "presets", clone / "invtools" / "presets")
    if ktc is not None:
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "ktc2023").symlink_to(Path(ktc).resolve())
    return clone


def run_shell(commands: list[str], ktc: Path | None, capsys) -> list[str]:
    """Run ``commands`` (CI form) in the working folder, in-process; return those that ran."""
    from invtools.workflow.cli import main

    ran = []
    for command in map(ci_form, commands):
        words = shlex.split(command)
        assert words[0] in {"invtools", "cp", *SKIPPED}, command
        if words[0] in SKIPPED:
            continue
        if "../shared/ktc2023" in command and ktc is None:
            continue  # the tank's measurements are not on this machine
        if words[0] == "cp":
            shutil.copy(*words[1:])
        else:
            status = main(words[1:])
            assert status == 0, f"{command}: {capsys.readouterr().err}"
        ran.append(command)
    return ran
