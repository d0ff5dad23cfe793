"""Device descriptions: the shipped ones load and round-trip through TOML; every bad or missing
key is one line naming the file and the key."""

import pytest

from invtools.devices import (
    DescriptionError,
    description_text,
    load_description,
    parse_description,
    shipped_devices,
)
from invtools.devices.description import REQUIRED, SCHEMA

GOOD = """
[device]
name = "eight"
[domain]
shape = "circle"
radius = 0.1
[electrodes]
count = 8
width = 0.02
first_angle = 0.0
contact_impedance = 1e-3
[patterns]
currents = "adjacent"
measurements = "adjacent"
[file]
voltages = "V"
voltages_layout = "pattern-by-measurement"
[reference]
file = "ref.mat"
[calibration]
mesh_size = 0.01
[image]
pixels = 16
mesh_size = 0.01
[reconstruction]
prior_weight = 1e-3
"""


def _without(text: str, table: str, key: str) -> str:
    lines, current = [], None
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        if current == table and line.split("=")[0].strip() == key:
            continue
        lines.append(line)
    return "\n".join(lines)


def _with(text: str, table: str, key: str, value: str) -> str:
    if f"[{table}]" not in text:
        text += f"\n[{table}]\n"
    return _without(text, table, key).replace(f"[{table}]", f"[{table}]\n{key} = {value}", 1)


@pytest.mark.parametrize("name", ["ktc2023", "kit4"])
def test_shipped_descriptions_round_trip(name, tmp_path):
    assert name in shipped_devices()
    desc = load_description(name)
    assert desc.name == name and desc.source.name == f"{name}.toml"
    again = parse_description(description_text(desc))
    assert again.tables == desc.tables
    path = tmp_path / "copy.toml"
    path.write_text(description_text(desc))
    assert load_description(path).tables == desc.tables


def test_defaults_are_filled_and_the_extent_is_the_radius():
    desc = parse_description(GOOD)
    assert desc["electrodes"]["direction"] == "counterclockwise"
    assert desc["segmentation"]["rule"] == "levels" and desc["image"]["rows"] == "top-down"
    assert desc.extent == 0.1 and desc.n_electrodes == 8
    assert parse_description(description_text(desc)).tables == desc.tables


REQUIRED_KEYS = [(t, k) for t, keys in SCHEMA.items() for k, (_, d) in keys.items()
                 if d is REQUIRED and k in GOOD.split(f"[{t}]")[1].split("[")[0]]


@pytest.mark.parametrize(("table", "key"), REQUIRED_KEYS)
def test_a_missing_required_key_is_named(table, key, tmp_path):
    path = tmp_path / "dev.toml"
    path.write_text(_without(GOOD, table, key))
    with pytest.raises(DescriptionError) as err:
        load_description(path)
    msg = str(err.value)
    assert msg == f"{path}: [{table}] {key}: missing (required)" and "\n" not in msg


@pytest.mark.parametrize(("table", "key", "value", "says"), [
    ("electrodes", "count", "8.5", "must be an integer"),
    ("electrodes", "count", "1", "must be at least 2"),
    ("electrodes", "width", "-0.01", "must be > 0"),
    ("electrodes", "width", '"wide"', "must be a finite number"),
    ("electrodes", "direction", '"sideways"', "must be one of ['counterclockwise', 'clockwise']"),
    ("electrodes", "contact_impedance", '"guess"', 'or "fit"'),
    ("domain", "shape", '"square"', "must be one of ['circle', 'outline']"),
    ("patterns", "currents", '"zigzag"', '"skip-K"'),
    ("file", "voltages_layout", '"diagonal"', "must be one of"),
    ("file", "missing", '"blank"', '"nan", "none" or the number'),
    ("segmentation", "classes", '["a", "b"]', "list of 3 names"),
    ("image", "pixels", "1", "must be at least 2"),
    ("image", "label_frame", "0", "must be > 0"),
    ("electrodes", "colour", '"red"', "unknown key; known: ['count'"),
])
def test_a_wrong_key_is_named(table, key, value, says, tmp_path):
    path = tmp_path / "dev.toml"
    path.write_text(_with(GOOD, table, key, value))
    with pytest.raises(DescriptionError) as err:
        load_description(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: [{table}] {key}") and says in msg and "\n" not in msg


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t: _without(t, "domain", "radius"), "[domain] radius: missing (required for a circle)"),
    (lambda t: _with(t, "patterns", "currents", '"file"'), "[file] currents: missing (required"),
    (lambda t: _with(t, "domain", "shape", '"outline"'), "[domain] outline: missing"),
    (lambda t: _with(t, "electrodes", "width", "0.08"), "[electrodes] width: 8 electrodes of 0.08 m cover"),
    (lambda t: t + "\n[extras]\nx = 1\n", "unknown table [extras]"),
    (lambda t: _with(t, "image", "extent", "0.05"), "[image] extent: 0.05 m leaves part of the circle"),
    (lambda t: t.replace("[device]", "[device"), "not valid TOML"),
])
def test_keys_that_depend_on_others(edit, says, tmp_path):
    path = tmp_path / "dev.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(DescriptionError, match=f"^{path}: ") as err:
        load_description(path)
    assert says in str(err.value)


def test_unknown_names_and_files():
    with pytest.raises(DescriptionError, match="no device named 'kit5'; shipped: .*'kit4'"):
        load_description("kit5")
    with pytest.raises(DescriptionError, match="nowhere.toml: no such device description"):
        load_description("nowhere.toml")
