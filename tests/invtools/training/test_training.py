import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from forward_models.blur import QuadraticWindowBlur
from invtools.data.phantoms import random_walk_signals
from invtools.nets import LPGD
from invtools.training.trainer import TrainConfig, Trainer, load_model


@pytest.fixture(scope="module")
def blur_data():
    op = QuadraticWindowBlur(a=2.0)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(random_walk_signals(360, 53, rng), dtype=torch.float32)
    with torch.no_grad():
        y = op(x)
    y = y + 0.01 * y.abs().mean() * torch.as_tensor(rng.standard_normal(tuple(y.shape)),
                                                     dtype=torch.float32)
    x0 = torch.zeros_like(x)
    return op, TensorDataset(x[:300], y[:300], x0[:300]), TensorDataset(x[300:], y[300:], x0[300:])


def trainer(op, train, val, out_dir=None, epochs=2, direction="none", weight_decay=0.0):
    torch.manual_seed(0)
    net = LPGD(op.in_shape, steps=5, direction=direction)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, seed=3, weight_decay=weight_decay)
    return Trainer(net, op, train, val, cfg, out_dir=out_dir, progress=False)


def params(t: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in t.net.parameters()])


def test_tiny_training_reduces_validation_mse(blur_data):
    op, train, val = blur_data
    history = trainer(op, train, val, epochs=6, direction="rma").fit()
    assert history[-1]["val_mse"] < 0.1 * history[-1]["val_mse_x0"]


def test_weight_decay_is_decoupled_from_the_adam_step(blur_data):
    """AdamW: one step with decay equals the plain Adam step plus -lr * wd * p (same gradient)."""
    op, train, val = blur_data
    plain, decayed = trainer(op, train, val), trainer(op, train, val, weight_decay=0.5)
    p0 = params(plain)
    x, y, x0 = train[:32]
    plain.train_step(x, y, x0)
    decayed.train_step(x, y, x0)
    step = params(plain) - p0
    torch.testing.assert_close(params(decayed) - p0, step - 2e-3 * 0.5 * p0, rtol=1e-4,
                               atol=1e-7)
    assert (params(decayed) - params(plain)).abs().max() > 1e-4


def test_training_is_deterministic_from_seed(blur_data):
    op, train, val = blur_data
    a, b = trainer(op, train, val), trainer(op, train, val)
    ha, hb = a.fit(), b.fit()
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
    assert torch.equal(params(a), params(b))


def test_resume_is_bit_for_bit(blur_data, tmp_path):
    op, train, val = blur_data
    straight = trainer(op, train, val, epochs=4)
    straight.fit()
    interrupted = trainer(op, train, val, out_dir=tmp_path, epochs=4)
    interrupted.fit(stop_after=2)
    assert interrupted.epoch == 2
    resumed = trainer(op, train, val, out_dir=tmp_path, epochs=4)
    resumed.fit(resume=True)
    assert torch.equal(params(straight), params(resumed))
    assert [r["train_loss"] for r in straight.history] == \
        [r["train_loss"] for r in resumed.history]
    assert (tmp_path / "best.pt").exists() and (tmp_path / "history.json").exists()


def test_checkpoint_round_trip_gives_identical_outputs(blur_data, tmp_path):
    op, train, val = blur_data
    t = trainer(op, train, val, out_dir=tmp_path, epochs=1, direction="rma")
    t.fit()
    model = load_model(tmp_path / "last.pt")
    ckpt = model.checkpoint
    assert ckpt["provenance"]["seed"] == 3 and ckpt["provenance"]["versions"]["torch"]
    x, y, x0 = val[:8]
    t.net.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.net(y, model.net_operator, x0), t.net(y, op, x0), rtol=0, atol=0)
    with pytest.warns(DeprecationWarning, match="unpacking load_model"):  # the earlier tuple API
        net, op2, ckpt2 = load_model(tmp_path / "last.pt")
    assert ckpt2["epoch"] == ckpt["epoch"] and op2.config() == op.config()
    with torch.no_grad():
        torch.testing.assert_close(net(y, op2, x0), t.net(y, op, x0), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"data of shape \(7,\) per sample, but the model expects \(12,\)"):
        model.predict(torch.zeros(2, 7))


def test_resume_without_checkpoint_is_an_error(blur_data, tmp_path):
    op, train, val = blur_data
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        trainer(op, train, val, out_dir=tmp_path).fit(resume=True)


def test_warns_when_validation_does_not_beat_the_initial_guess(blur_data, capsys):
    op, train, val = blur_data
    x, y, _ = val.tensors
    exact_start = TensorDataset(x, y, x.clone())  # x0 = the truth: no net can beat it
    trainer(op, train, exact_start, epochs=3).fit()
    err = capsys.readouterr().err
    assert "not below the initial guess's (0)" in err and "linearized" in err


def test_no_progress_warning_when_the_net_learns(blur_data, capsys):
    op, train, val = blur_data
    trainer(op, train, val, epochs=3).fit()
    assert "warning" not in capsys.readouterr().err


LEVELS = [0.0, 0.5, 1.0]


def label_trainer(op, train, val, backward: str, loss: str = "hamming", kind: str = "labeling",
                  epochs: int = 3):
    torch.manual_seed(0)
    layer = {"type": kind, "levels": LEVELS}
    if kind == "labeling":
        layer.update(backward=backward, tau=10.0, beta=0.02)
    net = LPGD(op.in_shape, steps=3, hidden=16, output_layer=layer)
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, seed=3, loss=loss)
    return Trainer(net, op, Subset(train, range(96)), val, cfg, progress=False)


def test_label_losses_need_a_label_output(blur_data):
    op, train, val = blur_data
    with pytest.raises(ValueError, match="labelling or softmax output layer"):
        Trainer(LPGD(op.in_shape, steps=1), op, train, val, TrainConfig(loss="hamming"), progress=False)
    softmax = LPGD(op.in_shape, steps=1, output_layer={"type": "softmax", "levels": LEVELS})
    with pytest.raises(ValueError, match="cross_entropy"):
        Trainer(softmax, op, train, val, TrainConfig(loss="mse"), progress=False)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="dice")


def test_labeling_lp_trained_by_lpgd_learns_and_by_implicit_does_not(blur_data):
    """End to end through the LP: LPGD lowers the validation label error below the start's;
    the implicit backward's gradient is zero, so Adam leaves every weight where it was."""
    op, train, val = blur_data
    t = label_trainer(op, train, val, "lpgd")
    start = t.evaluate(val)["label_error"]
    history = t.fit()
    assert min(h["val_label_error"] for h in history) < 0.8 * start
    assert t.selection_metric == "label_error" and t.best == min(h["val_label_error"] for h in history)
    frozen = label_trainer(op, train, val, "implicit", epochs=1)
    before = params(frozen).clone()
    frozen.fit()
    assert torch.equal(params(frozen), before)


def test_softmax_head_learns_by_cross_entropy(blur_data):
    op, train, val = blur_data
    t = label_trainer(op, train, val, "", loss="cross_entropy", kind="softmax")
    start = t.evaluate(val)["label_error"]
    assert min(h["val_label_error"] for h in t.fit()) < 0.8 * start
