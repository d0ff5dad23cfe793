"""The generic modules of invtools know no device: no module outside the device adapters
(``invtools/devices/``), the shipped models and the presets names a shipped device or "ktc",
in code, comments or docstrings (case-insensitive)."""

from pathlib import Path

from invtools.devices import shipped_devices

PACKAGE = Path(__file__).parents[2] / "invtools"
DEVICE_FOLDERS = ("devices", "models", "presets")


def device_names() -> list[str]:
    """The shipped devices' names and "ktc", lower case."""
    return sorted({name.lower() for name in shipped_devices()} | {"ktc"})


def generic_modules() -> list[Path]:
    """The .py files of invtools outside the device folders."""
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if p.relative_to(PACKAGE).parts[0] not in DEVICE_FOLDERS]


def offences(path: Path, names: list[str]) -> list[str]:
    """``file:line: text`` for each line of ``path`` that names a device."""
    rel = path.relative_to(PACKAGE.parent)
    return [f"{rel}:{i}: {line.strip()}"
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if any(name in line.lower() for name in names)]


def test_the_names_searched_for_are_the_shipped_devices():
    names = device_names()
    assert {"ktc", "ktc2023", "kit4"} <= set(names)
    assert len(generic_modules()) > 20  # the search sees the package


def test_no_generic_module_names_a_device():
    names = device_names()
    found = [hit for path in generic_modules() for hit in offences(path, names)]
    for hit in found:
        print(hit)
    assert not found, f"{len(found)} line(s) of generic modules name a device {names}:\n" + "\n".join(found)
