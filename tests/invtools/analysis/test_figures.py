"""Figure details: labelled axes, integer epoch ticks, nothing cut off or
overlapping, a colour key for labels, the tank's wall and electrode 1."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from invtools.analysis.plotting import draw_tank, plot_grid, plot_label_grid, plot_label_images  # noqa: E402
from invtools.training.log import plot_loss  # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions close, kept for inspection."""
    kept = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    monkeypatch.undo()
    plt.close("all")


def texts_inside(fig):
    """Everything drawn (labels, titles, legends) lies inside the figure: nothing is cut off."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]


def test_loss_plot_has_a_y_label_and_integer_epochs(tmp_path, figures):
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_mse": 1.2 / e, "val_mse_x0": 2.0}
               for e in range(1, 8)]
    plot_loss(history, tmp_path / "loss.png")
    ax = figures[-1].axes[0]
    assert ax.get_ylabel() and ax.get_xlabel() == "epoch"
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 7]
    assert ticks and all(float(t).is_integer() for t in ticks)
    texts_inside(figures[-1])


def test_signal_grid_keeps_labels_inside_and_the_title_clear(tmp_path, figures):
    x = np.random.default_rng(0).random((4, 53))
    plot_grid({"truth": x, "model": x}, tmp_path / "g.png", title="a title over the panels")
    fig = figures[-1]
    texts = texts_inside(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.title.get_window_extent(renderer))
    assert any(t.get_text() == "index" for t in texts)


def test_tank_outline_and_electrode_one_at_the_top():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((32, 32)))
    draw_tank(ax, 32)
    circle = ax.patches[0]
    assert circle.center == (15.5, 15.5) and circle.radius == 16
    (mark,) = ax.lines
    assert mark.get_xdata()[0] == 15.5 and mark.get_ydata()[0] == -0.5  # the top edge: 90 degrees
    assert [t.get_text() for t in ax.texts] == ["1"]
    plt.close(fig)


def test_label_figures_have_a_colour_key_and_the_tank(tmp_path, figures):
    labels = np.zeros((2, 64, 64), dtype=np.uint8)
    labels[:, 10:20, 10:20], labels[:, 40:50, 40:50] = 1, 2
    plot_label_images(labels, tmp_path / "s.png")
    plot_label_grid({"data1.mat": {"a": labels[0], "b": labels[1]}}, tmp_path / "t.png",
                    classes=("saline", "plastic", "metal"))  # a device names its classes
    keys = [["0 background", "1 resistive", "2 conductive"], ["0 saline", "1 plastic", "2 metal"]]
    for fig, key in zip(figures[-2:], keys, strict=True):
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == key
        assert all(len(ax.patches) == 1 and ax.texts[0].get_text() == "1" for ax in fig.axes)
        texts_inside(fig)
