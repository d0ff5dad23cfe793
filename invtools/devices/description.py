"""Device descriptions: one TOML file says everything invtools needs to image an EIT device's
measurement files (see docs/your-own-tank.md for every key with an example).

Tables: ``[device]`` (name, the model plug-in, the adapter that reads and images its files),
``[domain]`` (a circle's radius or an outline
file), ``[electrodes]`` (count, width, first electrode's angle, numbering direction, contact
impedance or ``"fit"``), ``[patterns]`` (currents and measurements read from the file or
named), ``[file]`` (the variables holding voltages, currents and patterns, their layouts,
scales and how a missing value is marked), ``[reference]`` (the reference measurement file),
``[calibration]``, ``[image]`` (pixels, extent, row order, the label images' frame), ``[reconstruction]`` and
``[segmentation]`` (the three classes and the rule), ``[samples]`` (where example files of the
device are found: :func:`find_samples`).

:func:`load_description` checks every key (type, range, choices, unknown keys) and fills the
defaults; any problem is one :class:`DescriptionError` line naming the file and the key.
:func:`description_text` writes a description back as TOML (``load`` of it gives the same).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SHIPPED = Path(__file__).resolve().parent  # ktc2023.toml, kit4.toml
REQUIRED = object()  # a key without a default


class DescriptionError(ValueError):
    """A device description that cannot be used: one line naming the file and the key."""


def _choice(*allowed: str):
    return ("choice", allowed)


# table -> key -> (kind, default); kind: "str" (non-empty), "text" (any string), "int",
# "pos" (number > 0), "num", ("choice", allowed), "strlist" (three names), "imp" (number > 0
# or "fit"), "missing" ("nan", "none" or a number), "pattern" (file, adjacent, skip-K, ...),
# "paths" (a list of non-empty strings)
SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "device": {"name": ("str", REQUIRED), "description": ("text", ""), "model": ("str", "cem2d"),
               "adapter": ("str", "described")},
    "domain": {"shape": (_choice("circle", "outline"), REQUIRED), "radius": ("pos", None),
               "outline": ("str", None)},
    "electrodes": {"count": ("int", REQUIRED), "width": ("pos", REQUIRED), "first_angle": ("num", 0.0),
                   "direction": (_choice("counterclockwise", "clockwise"), "counterclockwise"),
                   "contact_impedance": ("imp", REQUIRED)},
    "patterns": {"currents": ("pattern", "file"), "measurements": ("pattern", "file"),
                 "current_amplitude": ("pos", 1.0)},
    "file": {"voltages": ("str", REQUIRED),
             "voltages_layout": (_choice("flat", "measurement-by-pattern", "pattern-by-measurement"),
                                 "flat"),
             "currents": ("str", None),
             "currents_layout": (_choice("electrode-by-pattern", "pattern-by-electrode"),
                                 "electrode-by-pattern"),
             "measurements": ("str", None),
             "measurements_layout": (_choice("measurement-by-electrode", "electrode-by-measurement"),
                                     "measurement-by-electrode"),
             "voltage_scale": ("pos", 1.0), "current_scale": ("pos", 1.0), "missing": ("missing", "nan")},
    "reference": {"file": ("str", REQUIRED), "voltages": ("str", None), "currents": ("str", None)},
    "calibration": {"method": (_choice("homogeneous", "full"), "homogeneous"),
                    "mesh_size": ("pos", REQUIRED), "edge_levels": ("int", 0)},
    "image": {"pixels": ("int", 32), "extent": ("pos", None), "mesh_size": ("pos", REQUIRED),
              "rows": (_choice("top-down", "bottom-up"), "top-down"), "label_pixels": ("int", 256),
              "label_frame": ("pos", 1.0)},
    "reconstruction": {"prior_weight": ("pos", REQUIRED), "iterations": ("int", 10)},
    "segmentation": {"classes": ("strlist", ["background", "resistive", "conductive"]),
                     "rule": (_choice("levels", "otsu"), "levels"), "threshold": ("pos", 1.0)},
    "samples": {"folder": ("str", None), "env": ("str", None), "files": ("paths", []),
                "model": ("str", None)},
}
MINIMUM_INT = {("electrodes", "count"): 2, ("image", "pixels"): 2, ("image", "label_pixels"): 8,
               ("calibration", "edge_levels"): 0, ("reconstruction", "iterations"): 1}
_PATTERN = re.compile(r"^(file|adjacent|opposite|trigonometric|skip-\d+)$")


@dataclass(frozen=True)
class DeviceDescription:
    """A checked description: ``tables`` (table -> key -> value, defaults filled in), the file it
    came from (``source``, None if from text) and the folder relative paths start from."""

    tables: dict[str, dict[str, Any]]
    source: Path | None = None

    def __getitem__(self, table: str) -> dict[str, Any]:
        return self.tables[table]

    @property
    def name(self) -> str:
        return self.tables["device"]["name"]

    @property
    def folder(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()

    @property
    def n_electrodes(self) -> int:
        return self.tables["electrodes"]["count"]

    @property
    def extent(self) -> float:
        """Half the side (m) of the square the image covers."""
        return float(self.tables["image"]["extent"])

    def resolve(self, name: str) -> Path:
        """A path of the description (outline, ...) relative to the description's folder."""
        p = Path(name)
        return p if p.is_absolute() else self.folder / p


def _where(origin: str, table: str, key: str | None = None) -> str:
    return f"{origin}: [{table}]" + (f" {key}" if key else "")


def _check_value(origin: str, table: str, key: str, kind: Any, value: Any) -> Any:
    where = _where(origin, table, key)
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "text":
        if not isinstance(value, str):
            raise DescriptionError(f"{where} must be a string, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise DescriptionError(f"{where} must be a non-empty string, got {value!r}")
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise DescriptionError(f"{where} must be an integer, got {value!r}")
        low = MINIMUM_INT.get((table, key), 0)
        if value < low:
            raise DescriptionError(f"{where} must be at least {low}, got {value}")
        return value
    if kind in ("pos", "num"):
        if not is_num or not math.isfinite(value):
            raise DescriptionError(f"{where} must be a finite number, got {value!r}")
        if kind == "pos" and value <= 0:
            raise DescriptionError(f"{where} must be > 0, got {value}")
        return float(value)
    if kind == "imp":
        if value == "fit":
            return value
        if not is_num or not math.isfinite(value) or value <= 0:
            raise DescriptionError(f"{where} must be a number > 0 (Ohm m^2) or \"fit\", got {value!r}")
        return float(value)
    if kind == "missing":
        if value in ("nan", "none") or (is_num and math.isfinite(value)):
            return float(value) if is_num else value
        raise DescriptionError(f"{where} must be \"nan\", \"none\" or the number that marks a missing "
                               f"value, got {value!r}")
    if kind == "pattern":
        if not isinstance(value, str) or not _PATTERN.match(value):
            raise DescriptionError(f"{where} must be \"file\", \"adjacent\", \"skip-K\", \"opposite\" or "
                                   f"\"trigonometric\", got {value!r}")
        return value
    if kind == "paths":
        if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            raise DescriptionError(f"{where} must be a list of file names, got {value!r}")
        return list(value)
    if kind == "strlist":
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)):
            raise DescriptionError(f"{where} must be a list of 3 names (background, resistive, "
                                   f"conductive), got {value!r}")
        return list(value)
    allowed = kind[1]
    if value not in allowed:
        raise DescriptionError(f"{where} must be one of {list(allowed)}, got {value!r}")
    return value


def check_tables(raw: dict[str, Any], origin: str) -> dict[str, dict[str, Any]]:
    """The checked tables of a parsed description (defaults filled in); ``origin`` names the file
    in the messages."""
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise DescriptionError(f"{origin}: unknown table [{unknown[0]}]; known: {list(SCHEMA)}")
    out: dict[str, dict[str, Any]] = {}
    for table, keys in SCHEMA.items():
        given = raw.get(table, {})
        if not isinstance(given, dict):
            raise DescriptionError(f"{_where(origin, table)} must be a table")
        extra = sorted(set(given) - set(keys))
        if extra:
            raise DescriptionError(f"{_where(origin, table, extra[0])}: unknown key; known: {list(keys)}")
        out[table] = {}
        for key, (kind, default) in keys.items():
            if key in given:
                out[table][key] = _check_value(origin, table, key, kind, given[key])
            elif default is REQUIRED:
                raise DescriptionError(f"{_where(origin, table, key)}: missing (required)")
            else:
                out[table][key] = list(default) if isinstance(default, list) else default
    _check_together(out, origin)
    return out


def _check_together(t: dict[str, dict[str, Any]], origin: str) -> None:
    """Keys that depend on others: the domain's size, the file variables the patterns need."""
    dom = t["domain"]
    if dom["shape"] == "circle" and dom["radius"] is None:
        raise DescriptionError(f"{_where(origin, 'domain', 'radius')}: missing (required for a circle)")
    if dom["shape"] == "outline" and dom["outline"] is None:
        raise DescriptionError(f"{_where(origin, 'domain', 'outline')}: missing (required for an outline)")
    for kind in ("currents", "measurements"):
        if t["patterns"][kind] == "file" and t["file"][kind] is None:
            raise DescriptionError(f"{_where(origin, 'file', kind)}: missing (required: [patterns] "
                                   f"{kind} = \"file\")")
    if t["image"]["extent"] is None:
        if dom["shape"] != "circle":
            raise DescriptionError(f"{_where(origin, 'image', 'extent')}: missing (required for an outline)")
        t["image"]["extent"] = dom["radius"]
    if dom["shape"] == "circle" and t["image"]["extent"] < dom["radius"]:
        raise DescriptionError(f"{_where(origin, 'image', 'extent')}: {t['image']['extent']} m leaves part "
                               f"of the circle of radius {dom['radius']} m outside the image")
    L, width = t["electrodes"]["count"], t["electrodes"]["width"]
    if dom["shape"] == "circle" and L * width >= 2 * math.pi * dom["radius"]:
        raise DescriptionError(f"{_where(origin, 'electrodes', 'width')}: {L} electrodes of {width} m "
                               f"cover more than the circle's {2 * math.pi * dom['radius']:.4g} m")


def parse_description(text: str, source: Path | None = None) -> DeviceDescription:
    """A description from TOML text (``source``: the file it came from, for messages and paths)."""
    origin = str(source) if source is not None else "<description>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DescriptionError(f"{origin}: not valid TOML ({err})") from None
    return DeviceDescription(check_tables(raw, origin), source)


def shipped_devices() -> list[str]:
    """The names of the descriptions that come with invtools."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def load_description(name_or_path: str | Path | DeviceDescription) -> DeviceDescription:
    """A shipped description by name (``ktc2023``, ``kit4``) or a TOML file's, checked."""
    if isinstance(name_or_path, DeviceDescription):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix != ".toml":
        if str(name_or_path) not in shipped_devices():
            raise DescriptionError(f"no device named {str(name_or_path)!r}; shipped: {shipped_devices()} "
                                   "(or give a .toml file)")
        path = SHIPPED / f"{name_or_path}.toml"
    if not path.is_file():
        raise DescriptionError(f"{path}: no such device description")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DescriptionError(f"{path}: cannot read ({err})") from None
    return parse_description(text, path)


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def description_text(desc: DeviceDescription) -> str:
    """The description as TOML (every key, defaults included; unset optional keys left out)."""
    lines = []
    for table, keys in desc.tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in keys.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def find_samples(desc: DeviceDescription, start: str | Path | None = None) -> Path | None:
    """The folder of the device's example files (``[samples]``): the one the environment
    variable ``env`` names, else ``folder`` (relative to the description file, or absolute), else
    ``../shared/<name>`` from ``start`` (default: the working folder); the first of these that
    holds every file of ``files``. None if none does."""
    import os

    s = desc["samples"]
    candidates = [os.environ.get(s["env"]) if s["env"] else None,
                  desc.resolve(s["folder"]) if s["folder"] else None,
                  Path(start or Path.cwd()).resolve().parent / "shared" / desc.name]
    for candidate in map(Path, filter(None, candidates)):
        if candidate.is_dir() and all((candidate / f).is_file() for f in s["files"]):
            return candidate
    return None
