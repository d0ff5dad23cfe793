"""The reproduction study's CI-sized mode (`python -m benchmarks.studies.reproduce_rma --quick`)
runs end to end."""

import json
import math

import pytest

from benchmarks.studies import plot_study, reproduce_rma


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    module = reproduce_rma
    out = tmp_path_factory.mktemp("study") / "quick.json"
    report = module.main(["--quick", "--out", str(out)])
    return module, report, out


def test_quick_study_writes_json_and_markdown(study):
    module, report, out = study
    assert json.loads(out.read_text())["args"]["quick"] is True
    markdown = out.with_suffix(".md").read_text()
    for name in ["GN", *module.NETS]:
        assert f"| {name} |" in markdown
    assert "RMA gain" in markdown and "LPD -> LPD-RMA" in markdown and "eit-limited" in markdown
    assert sorted(p.name for p in out.parent.iterdir()) == ["quick.json", "quick.md"]  # no temporaries


def test_every_method_is_scored_on_every_case(study):
    module, report, _ = study
    for a, runs in report["blur"].items():
        assert len(runs) == 2, a  # two seeds in quick mode
        for run in runs:
            for name in ["x0", "GN", *module.NETS]:
                assert math.isfinite(run[name]["mse"]) and run[name]["psnr"] > 0
    for preset in ("eit-discs2", "eit-discs4", "eit-limited"):
        for run in (r for runs in report[preset].values() for r in runs):
            for name in ["x0", "GN", *module.EIT_NETS]:
                assert 0 < run[name]["relative_error"] < 1 and -1 <= run[name]["ssim"] <= 1


def test_test_set_does_not_depend_on_training_size(study):
    """Columns n_train = 8 and 16 score the same test samples: x0 and GN agree exactly."""
    _, report, _ = study
    for preset in ("eit-discs2", "eit-limited"):
        small, large = report[preset]["8"][0], report[preset]["16"][0]
        assert small["x0"] == large["x0"] and small["GN"]["mse"] == large["GN"]["mse"]
        assert small["LPGD"]["mse"] != large["LPGD"]["mse"]  # but the trained nets differ


def test_study_figure(study, tmp_path):
    import matplotlib.pyplot as plt

    _, report, _ = study
    out = tmp_path / "study.png"
    plot_study.plot([report], out)
    image = plt.imread(out)
    assert image.shape[1] > 3 * image.shape[0]  # four panels side by side: blur and three EIT presets
    assert [p.name for p in tmp_path.iterdir()] == ["study.png"]
    with pytest.raises(ValueError, match="no study results"):
        plot_study.plot([{"args": {}}], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_extra_nets_carry_their_options():
    from forward_models.blur import QuadraticWindowBlur

    module = reproduce_rma
    op, steps = QuadraticWindowBlur(a=2.0), {"lpgd": 2, "lpd": 2}
    df = module.build("LPD-RMA-df", op, steps, None)
    assert df.direction_source == "data_fit" and df.arch["direction"] == "rma"
    assert module.build("LPD-RMA", op, steps, None).direction_source == "dual"
    control = module.build("LPD-df", op, steps, None)
    assert control.direction_source == "data_fit" and control.arch["direction"] == "none"
    for name in ("LPGD-RMA-res", "LPD-RMA-res"):
        assert module.build(name, op, steps, None).direction.fc.weight.abs().sum() == 0
