"""The demo's paired comparison (numbers and words) and its figures: every panel has a title,
axis labels and a legend, and no title is cut off."""

import matplotlib
import numpy as np
import pytest

import invtools.workflow.demo as demo
import invtools.workflow.demo_figures as figures
from invtools.devices import load_description, shipped_devices

matplotlib.use("Agg")


def test_paired_comparison_by_hand():
    truth = np.zeros((3, 4))
    gn = np.full((3, 4), 2.0)  # per-signal MSE 4 each
    net = np.sqrt(np.array([3.0, 2.0, 1.0]))[:, None] * np.ones((1, 4))  # MSE 3, 2, 1
    c = demo.paired_comparison(truth, net, gn)
    assert c["n"] == 3 and c["net_wins"] == 3 and c["gn_wins"] == 0
    assert c["net_mse"] == pytest.approx(2.0) and c["gn_mse"] == pytest.approx(4.0)
    assert c["mean_difference"] == pytest.approx(-2.0) and c["relative_difference"] == pytest.approx(-0.5)
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2 d.o.f.) * sd (1) / sqrt(n)
    assert c["ci95"] == pytest.approx([-2.0 - half, -2.0 + half])


@pytest.mark.parametrize("ci, words", [([-0.3, -0.1], "the learned net beats Gauss-Newton: 20% lower"),
                                       ([0.1, 0.3], "Gauss-Newton beats the learned net"),
                                       ([-0.1, 0.3], "no difference shown")])
def test_verdict_follows_the_interval(ci, words):
    c = {"n": 10, "net_mse": 0.8, "gn_mse": 1.0, "mean_difference": -0.2, "ci95": ci,
         "relative_difference": -0.2, "net_wins": 7}
    first, second = demo.verdict({"comparison": c}).split("\n")
    assert first.startswith("paired, the same 10 test signals") and "better on 7 of 10" in first
    assert second.startswith(words)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the demo's plot functions make, instead of PNG files."""
    out = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: out.append(fig))
    yield out
    import matplotlib.pyplot as plt

    for fig in out:
        plt.close(fig)


def test_every_demo_figure_reads_on_its_own(drawn):
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((8, 53))
    gn, net = truth + 0.5 * rng.standard_normal(truth.shape), truth + 0.2 * rng.standard_normal(truth.shape)
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_mse": 1.2 / e, "val_mse_x0": 2.0} for e in (1, 2, 3)]
    # the demo's titles
    figures.plot_training(history, 0.5, "loss.png", "LPGD-RMA training: blur1d-tv, 1024 signals, 20 epochs")
    figures.plot_examples(truth, gn, net, "examples.png", "blur1d-tv test signals: Gauss-Newton vs the "
                          "learned LPGD-RMA (mean MSE 0.248 vs 0.0729)")
    figures.plot_reconstructions(truth, net, "reconstruction.png",
                                 "invtools reconstruct data/test.h5 --model run/best.pt (blur1d-tv)")
    assert len(drawn) == 3
    for fig in drawn:
        fig.canvas.draw()
        for text in [fig._suptitle] + [ax.title for ax in fig.axes]:  # none cut off at the sides
            if text is not None and text.get_text():
                box = text.get_window_extent()
                assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, text.get_text()
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
        assert fig.axes[0].get_title() and (fig._suptitle is not None or len(axes) == 1)
        assert any(ax.get_legend() is not None for ax in axes)
        assert all(ax.get_title() for ax in axes)
        assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    examples = drawn[1].axes
    assert all(ax.get_legend() is not None and ax.get_xlabel() and ax.get_ylabel() for ax in examples)
    assert "net better: " in examples[-1].get_legend().get_texts()[0].get_text()


@pytest.mark.parametrize("device", shipped_devices())
@pytest.mark.parametrize("n_columns", [1, 2, 3, 4])
def test_the_real_data_title_is_not_cut_off(tmp_path, device, n_columns):
    import matplotlib.image

    from invtools.analysis.plotting import plot_label_grid

    desc = load_description(device)
    methods = [f"method {i}" for i in range(n_columns)]
    rows = {f"file{i}.mat": dict.fromkeys(methods, np.zeros((16, 16), int)) for i in range(4)}
    title = demo.real_data_title(desc, n_columns)
    assert desc["segmentation"]["classes"][0] in title.replace("\n", " ")
    plot_label_grid(rows, tmp_path / "real.png", title)
    image = matplotlib.image.imread(tmp_path / "real.png")[..., :3]
    band = image[: int(0.06 * len(image))]  # the title's rows: white at both edges (one line was cut)
    assert band[:, :3].min() == 1.0 and band[:, -3:].min() == 1.0
