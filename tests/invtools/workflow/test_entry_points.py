"""The command line is reachable three ways: ``invtools``, ``python -m invtools`` and
:func:`invtools.workflow.cli.main`; each reports the installed version."""

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import invtools
from invtools.workflow import cli


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_python_dash_m_invtools_is_the_cli():
    done = run(sys.executable, "-m", "invtools", "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"invtools {cli.installed_version()}"
    helped = run(sys.executable, "-m", "invtools", "reconstruct", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: invtools reconstruct")
    wrong = run(sys.executable, "-m", "invtools", "no-such-command")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_the_invtools_script_prints_the_version():
    script = shutil.which("invtools") or str(Path(sys.executable).parent / "invtools")
    if not Path(script).is_file():
        pytest.skip("the invtools console script is not installed")
    done = run(script, "--version")
    expected = f"invtools {importlib.metadata.version('invtools')}"
    assert done.returncode == 0 and done.stdout.strip() == expected


def test_the_version_falls_back_to_the_package_when_not_installed(monkeypatch):
    assert cli.installed_version() == importlib.metadata.version("invtools")

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    monkeypatch.setattr(invtools, "__version__", "9.9.9-source")
    assert cli.installed_version() == "9.9.9-source"
