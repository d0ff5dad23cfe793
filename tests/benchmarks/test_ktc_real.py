"""The real-tank validation study (benchmarks/studies/ktc_real.py): its truth reader, its score
halves, its simulated-score reader and its smoke run on the KTC2023 files (skipped without them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from benchmarks.studies import ktc_real
from invtools.devices.ktc2023.score import ktc_score


def test_truths_read_as_256_label_images_and_score_one_against_themselves(ktc):
    for target in ktc_real.TARGETS:
        truth = ktc_real.read_truth(ktc, target)
        assert truth.shape == (256, 256) and truth.dtype == np.uint8
        assert set(np.unique(truth)) <= {0, 1, 2} and (truth > 0).any()
        assert ktc_score(truth, truth) == pytest.approx(1.0, abs=1e-12)
        assert ktc_real.class_scores(truth, truth) == pytest.approx((1.0, 1.0), abs=1e-12)
        assert ktc_score(truth, np.zeros_like(truth)) < 0.6  # all water misses the inclusions
    # targets 3 and 4 have one class each: a segmentation inventing the other loses that half
    t3 = ktc_real.read_truth(ktc, 3)
    assert not (t3 == 1).any()
    spurious, window = t3.copy(), (slice(20, 40), slice(120, 140))  # water near electrode 1
    assert (t3[window] == 0).all()
    spurious[window] = 1
    conductive, resistive = ktc_real.class_scores(t3, spurious)
    assert conductive == pytest.approx(1.0) and resistive < 0.5


def test_truth_reader_round_trips_and_refuses_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (256, 256)).astype(np.uint8)
    (tmp_path / "GroundTruths").mkdir()
    scipy.io.savemat(tmp_path / "GroundTruths" / "true1.mat", {"truth": truth})
    back = ktc_real.read_truth(tmp_path, 1)
    assert back.dtype == np.uint8 and np.array_equal(back, truth)
    scipy.io.savemat(tmp_path / "GroundTruths" / "true2.mat", {"truth": truth[:128]})
    with pytest.raises(ValueError, match="not 256 x 256"):
        ktc_real.read_truth(tmp_path, 2)
    scipy.io.savemat(tmp_path / "GroundTruths" / "true3.mat", {"truth": truth + 1})
    with pytest.raises(ValueError, match=r"values \[3\] outside the classes"):
        ktc_real.read_truth(tmp_path, 3)
    scipy.io.savemat(tmp_path / "GroundTruths" / "true4.mat", {"labels": truth})
    with pytest.raises(ValueError, match="no variable 'truth'"):
        ktc_real.read_truth(tmp_path, 4)
    with pytest.raises(FileNotFoundError, match="true5.mat"):
        ktc_real.read_truth(tmp_path, 5)


def test_simulated_scores_are_the_nan_aware_means_of_the_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"scores": {"gn": {"L1": [0.2, 0.4], "L7": [0.5, float("nan"), 0.7]}},
                                "seconds": {}}))
    sim = ktc_real.simulated_scores([path])
    assert sim["gn"]["L1"] == (pytest.approx(0.3), 2)
    assert sim["gn"]["L7"] == (pytest.approx(0.6), 2)


def test_quick_run_scores_every_method_and_prints_real_beside_simulated(ktc, tmp_path, capsys):
    out, png = tmp_path / "real.json", tmp_path / "real.png"
    ktc_real.main(["--quick", "--ktc", str(ktc), "--json", str(out), "--figure", str(png)])
    text = capsys.readouterr().out
    results = json.loads(out.read_text())
    cases = results["cases"]
    assert {(c["target"], c["level"]) for c in cases} == {(1, 1), (1, 7)}
    assert {c["method"] for c in cases} == {"baseline", "linearized", "gn", "shipped"}
    truth = ktc_real.read_truth(ktc, 1)
    for c in cases:
        assert -1.0 <= c["score"] <= 1.0
        assert c["score"] == pytest.approx(np.mean(c["class_scores"]))  # the score is the halves' mean
        assert c["truth_area"] == [int((truth == 1).sum()), int((truth == 2).sum())]
        assert c["missing"] == (0 if c["level"] == 1 else 2356 - 513)
    for c in cases:
        if c["method"] == "gn":  # Levenberg-Marquardt accepts only steps that lower the objective
            objective = c["gn"]["objective"]
            assert len(objective) <= 3 and (np.diff(objective) <= 0).all()
    # the shipped model beats the linearised step on target 1 at level 1 (0.80 against 0.33)
    score = {(c["level"], c["method"]): c["score"] for c in cases}
    assert score[1, "shipped"] > score[1, "linearized"] + 0.2
    # the simulated column is the JSON's mean at the same level, beside the real one
    sim = ktc_real.simulated_scores(ktc_real.SIM_JSON)
    assert f"{score[7, 'gn']:.3f} / {sim['gn']['L7'][0]:.3f}" in text
    assert f"{sim['gn']['L7'][0] - score[7, 'gn']:+.3f}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "model checks" in text and "contact impedance" in text
    ktc_real.main(["--from-json", str(out), "--sim-json", str(ktc_real.SIM_JSON[0])])
    again = capsys.readouterr().out
    assert "shipped" in again and "missing" in again  # the models' file left out: no simulated score


def test_compare_runs_prints_per_level_mean_differences_and_their_sum(capsys):
    from benchmarks.studies.ktc_real_checks import compare_runs

    def cases(scores):
        return [{"target": t, "level": v, "method": "gn", "score": s}
                for (t, v), s in zip([(1, 1), (2, 1), (1, 7), (2, 7)], scores, strict=True)]

    compare_runs(cases([0.5, 0.7, 0.2, 0.2]), cases([0.4, 0.4, 0.3, 0.2]), "before")
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| gn"))
    # level 1: (0.1 + 0.3) / 2; level 7: (-0.1 + 0) / 2; total: their sum; 2 cases up, 1 down
    assert row == "| gn | +0.200 | -0.050 | +0.150 | 2 / 1 of 4 |"
