"""Bad numbers in configs and CLI options are refused up front, naming the setting."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invtools.training.config import load_run_config
from invtools.training.trainer import TrainConfig
from invtools.workflow.cli import main

# key -> (predicate for a valid value)
TRAIN_RULES = {
    "epochs": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "batch_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "lr": lambda v: _num(v) and v > 0,
    "grad_clip": lambda v: _num(v) and v > 0,
    "tv_weight": lambda v: _num(v) and v >= 0,
    "weight_decay": lambda v: _num(v) and v >= 0,
    "min_lr_factor": lambda v: _num(v) and 0 <= v <= 1,
}


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


values = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                   st.booleans(), st.text(alphabet="ab1 .-", max_size=3))


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "").replace('"', "") + '"'
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(sorted(TRAIN_RULES)), value=values)
def test_train_config_values_are_checked(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    text = toml_value(value)
    path.write_text(f'[data]\ntrain = "t.h5"\n[train]\n{key} = {text}\n')
    parsed_value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(text, value)
    if isinstance(value, str):
        parsed_value = text.strip('"')
    if TRAIN_RULES[key](parsed_value):
        assert load_run_config(path)["train"][key] == parsed_value
    else:
        with pytest.raises(ValueError, match=rf"\[train\] {key} = .*: must be"):
            load_run_config(path)


@pytest.mark.parametrize("key,value", [("steps", 0), ("hidden", -1), ("direction", '"lstm"'),
                                       ("checkpointing", '"yes"')])
def test_net_config_values_are_checked(tmp_path, key, value):
    path = tmp_path / "c.toml"
    path.write_text(f'[data]\ntrain = "t.h5"\n[net]\n{key} = {value}\n')
    with pytest.raises(ValueError, match=rf"\[net\] {key} = "):
        load_run_config(path)


def test_python_api_checks_too():
    with pytest.raises(ValueError, match="grad_clip = -1: must be a finite number > 0"):
        TrainConfig(grad_clip=-1)
    assert TrainConfig(grad_clip=None).grad_clip is None


BAD_OPTIONS = [
    ["generate", "blur1d-rma", "-n", "4", "--block", "-1"],
    ["generate", "blur1d-rma", "-n", "0"],
    ["generate", "blur1d-rma", "-n", "4", "--workers", "0"],
    ["reconstruct", "--method", "gn", "--lam", "-1"],
    ["reconstruct", "--method", "gn", "--lam", "nan"],
    ["reconstruct", "--method", "gn", "--iterations", "-3"],
    ["reconstruct", "--method", "gn", "--noise-level", "-1"],
    ["reconstruct", "--method", "gn", "--mesh-h", "inf"],
    ["evaluate", "--model", "m.pt", "--data", "d.h5", "--baseline-samples", "-3"],
    ["demo", "--epochs", "0"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_bad_cli_numbers_exit_nonzero_naming_the_option(tmp_path, capsys, argv):
    extra = {"generate": ["--out", str(tmp_path / "o.h5")],
             "reconstruct": ["--measurements", "y.npz", "--out", str(tmp_path / "o.h5")]}
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *extra.get(argv[0], [])])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-2]}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs,name", [({"block": -1}, "--block"), ({"block": 0}, "--block"),
                                         ({"workers": 0}, "--workers"), ({"seed": -2}, "--seed")])
def test_generate_api_refuses_bad_numbers(tmp_path, kwargs, name):
    from invtools.data import generate
    from invtools.data.recipes import load_recipe

    with pytest.raises(ValueError, match=f"{name} = "):
        generate(load_recipe("blur1d-rma"), tmp_path / "o.h5", 8, progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


# option -> (command prefix, attribute, predicate the parsed value must satisfy)
NUMERIC_OPTIONS = {
    "--block": (["generate", "x"], "block", lambda v: isinstance(v, int) and v >= 1),
    "--workers": (["generate", "x"], "workers", lambda v: isinstance(v, int) and v >= 1),
    "--lam": (["reconstruct", "--measurements", "y", "--out", "o"], "lam",
              lambda v: math.isfinite(v) and v > 0),
    "--noise-level": (["reconstruct", "--measurements", "y", "--out", "o"], "noise_level",
                      lambda v: math.isfinite(v) and 0 <= v <= 1),
    "--iterations": (["reconstruct", "--measurements", "y", "--out", "o"], "iterations",
                     lambda v: isinstance(v, int) and v >= 1),
    "--baseline-samples": (["evaluate", "--model", "m", "--data", "d"], "baseline_samples",
                           lambda v: isinstance(v, int) and v >= 0),
}


@settings(max_examples=150, deadline=None)
@given(option=st.sampled_from(sorted(NUMERIC_OPTIONS)),
       text=st.one_of(st.integers(-10**6, 10**6).map(str), st.floats().map(str),
                      st.text(alphabet="0123456789.-+eEnaifINF", min_size=1, max_size=6)))
def test_numeric_options_parse_only_to_allowed_values(option, text):
    from invtools.workflow.cli import build_parser

    prefix, attr, allowed = NUMERIC_OPTIONS[option]
    try:
        args = build_parser().parse_args([*prefix, f"{option}={text}"])
    except SystemExit as exit_info:
        assert exit_info.code == 2
        return
    assert allowed(getattr(args, attr))
