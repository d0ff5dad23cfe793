"""Constrained sub-problems inside the unrolled nets: labelling LP / softmax output layers,
projection outputs and per-step constraints, built from configs and rebuilt from checkpoints."""

import numpy as np
import pytest
import torch
from problems import problem

from invtools.nets import LPD, LPGD, build_net, build_net_from_config
from invtools.nets.output_layers import LabelOutput, check_layer_config, level_labels, neighbour_adjacency
from invtools.training.losses import cross_entropy_loss, hamming_loss

LEVELS = [0.0, 0.5, 1.0]


def labeling(**kw):
    return {"type": "labeling", "levels": LEVELS, **kw}


def test_config_is_checked_and_completed():
    cfg = check_layer_config(labeling(), ("labeling",), "output_layer")
    assert cfg["beta"] == 0.1 and cfg["backward"] == "lpgd" and cfg["relative_tau"] is True
    for bad, match in [({"type": "labels"}, "type"), ({"type": "labeling"}, "levels"),
                       (labeling(levels=[1.0]), "at least 2"), (labeling(levels=[1.0, 1.0]), "differ"),
                       (labeling(classes=2), "classes = 2 but 3 levels"), (labeling(tau=0.0), "tau"),
                       (labeling(backward="magic"), "backward"), (labeling(gamma=1), "unknown key"),
                       ({"type": "box", "lower": 1.0, "upper": 0.0}, "lower"),
                       ({"type": "bounded_mass", "lower": 0.0, "upper": 1.0}, "mass")]:
        with pytest.raises(ValueError, match=match):
            check_layer_config(bad, ("labeling", "box", "bounded_mass"), "output_layer")
    with pytest.raises(ValueError, match="type"):  # a labelling LP is not a step constraint
        LPGD((12, 12), steps=1, step_constraint=labeling())


def test_neighbour_adjacency_of_a_grid():
    A = neighbour_adjacency((3, 4), None)
    assert A.shape == (12, 12) and A.nnz == 2 * (3 * 3 + 2 * 4)  # each of the 17 pairs twice
    assert (A != A.T).nnz == 0 and A.diagonal().sum() == 0


@pytest.mark.parametrize("kind", ["labeling", "softmax"])
def test_label_output_starts_as_nearest_level(kind):
    """Before training the scores rank the levels by distance, so without smoothness the
    output is the nearest level of every entry, exactly."""
    x = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.2 - 0.1
    config = labeling(beta=0.0) if kind == "labeling" else {"type": "softmax", "levels": LEVELS}
    layer = LabelOutput(check_layer_config(config, (kind,), "out"), (6, 6), None)
    with torch.no_grad():
        image, z = layer(x.float())
    truth = level_labels(x, LEVELS)
    assert torch.equal(z.argmax(-1), truth)
    np.testing.assert_allclose(image.numpy(), np.array(LEVELS)[truth.numpy()], atol=1e-6)
    np.testing.assert_allclose(z.sum(-1).numpy(), 1.0, atol=1e-6)
    if kind == "labeling":  # an LP vertex: a one-hot assignment
        assert torch.all((z - z.round()).abs() < 1e-6)


def test_labeling_smoothness_removes_isolated_labels():
    x = torch.zeros(1, 5, 5)
    x[0, 2, 2] = 0.3  # nearer 0.5 than 0 by a little: an isolated entry of class 1
    plain = LabelOutput(check_layer_config(labeling(beta=0.0), ("labeling",), "o"), (5, 5), None)
    smooth = LabelOutput(check_layer_config(labeling(beta=1.0), ("labeling",), "o"), (5, 5), None)
    assert plain(x)[0][0, 2, 2] == 0.5 and smooth(x)[0][0, 2, 2] == 0.0


@pytest.mark.parametrize("backward, informative", [("lpgd", True), ("dbb", True), ("implicit", False)])
def test_gradient_reaches_the_backbone_only_through_lpgd_and_dbb(backward, informative):
    op, x, y, x0, _ = problem("blur2d")
    torch.manual_seed(0)
    net = LPGD(op.in_shape, steps=2, hidden=8, output_layer=labeling(backward=backward, tau=10.0, beta=0.05))
    _, z = net(y.float(), op, x0.float(), assignment=True)
    hamming_loss(z, level_labels(x.float(), LEVELS)).backward()
    backbone = torch.cat([p.grad.reshape(-1) for n, p in net.named_parameters()
                          if not n.startswith("output_layer") and p.grad is not None])
    assert (backbone.abs().max() > 1e-8) == informative


def test_softmax_output_trains_by_cross_entropy_gradients():
    op, x, y, x0, _ = problem("blur2d")
    net = LPGD(op.in_shape, steps=2, hidden=8, output_layer={"type": "softmax", "levels": LEVELS})
    _, z = net(y.float(), op, x0.float(), assignment=True)
    cross_entropy_loss(z, level_labels(x.float(), LEVELS)).backward()
    assert net.blocks[0].layers[0].weight.grad.abs().max() > 0


@pytest.mark.parametrize("net_cls", ["lpgd", "lpd"])
def test_step_constraint_keeps_every_iterate_in_the_box(net_cls):
    op, x, y, x0, _ = problem("blur2d")
    box = {"type": "box", "lower": 0.0, "upper": 0.002}  # an untrained net's output is ~0.01
    seen = []
    cls = LPGD if net_cls == "lpgd" else LPD
    kw = {} if net_cls == "lpgd" else {"out_shape": op.out_shape}
    net = cls(op.in_shape, steps=3, hidden=8, step_constraint=box, **kw)
    original = net.constrain
    net.constrain = lambda v: seen.append(original(v)) or seen[-1]
    with torch.no_grad():
        out = net(y.float(), op, x0.float())
    assert len(seen) == 3
    assert all(float(s.min()) >= 0.0 and float(s.max()) <= 0.002 + 1e-7 for s in seen)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 0.002 + 1e-7
    unconstrained = cls(op.in_shape, steps=3, hidden=8, **kw)
    unconstrained.load_state_dict(net.state_dict())
    with torch.no_grad():
        free = unconstrained(y.float(), op, x0.float())
    assert float(free.max()) > 0.002 or float(free.min()) < 0.0  # the constraint is active


def test_bounded_mass_output_conserves_the_mass_and_passes_gradients():
    op, x, y, x0, _ = problem("blur2d")
    net = LPGD(op.in_shape, steps=2, hidden=8,
               output_layer={"type": "bounded_mass", "lower": 0.0, "upper": 1.0, "mass": 30.0})
    out = net(y.float(), op, x0.float())
    np.testing.assert_allclose(out.sum(dim=(1, 2)).detach().numpy(), 30.0, rtol=1e-5)
    assert float(out.detach().min()) >= 0.0 and float(out.detach().max()) <= 1.0
    ((out - x.float()) ** 2).mean().backward()
    assert net.blocks[0].layers[0].weight.grad.abs().max() > 0


@pytest.mark.parametrize("name", ["blur2d", "eit_mesh"])
def test_arch_record_rebuilds_the_same_net(name):
    op, x, y, x0, adjacency = problem(name)
    levels = LEVELS if name == "blur2d" else [0.0, -1.0, 1.0]
    net = build_net_from_config({"arch": "lpgd", "steps": 2, "hidden": 8,
                                 "output_layer": {"type": "labeling", "levels": levels, "beta": 0.05},
                                 "step_constraint": {"type": "box", "lower": -2.0, "upper": 2.0}},
                                op.in_shape, op.out_shape, adjacency)
    with torch.no_grad():
        net.output_layer.bias += torch.tensor([0.0, 0.1, -0.1])  # trained head parameters
    again = build_net(net.arch, adjacency=adjacency)
    again.load_state_dict(net.state_dict())
    assert again.arch == net.arch and again.label_levels == levels
    a, b = net(y.float(), op, x0.float()), again(y.float(), op, x0.float())
    assert torch.equal(a, b)
    assert set(torch.unique(a).tolist()) <= set(np.float32(levels).tolist())
