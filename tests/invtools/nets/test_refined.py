"""The U-Net refined by LPGD steps on the data fit: it is the composition of its two parts,
starts from a U-Net checkpoint, keeps a frozen U-Net fixed, rebuilds from its record, and sees
the physics (its output moves with the data; the U-Net's does not)."""

import pytest
import torch

from invtools.nets import build_net, build_net_from_config
from invtools.training.config import fit_backbone
from tests.invtools.nets.problems import problem

CONFIG = {"arch": "unet_lpgd", "levels": 1, "hidden": 4, "steps": 2, "refine_hidden": 4}


def eit_pixels():
    op, x, y, x0, _ = problem("eit_pixels")
    return op, x.double(), y.double(), x0.double()


def test_the_output_is_the_refiner_applied_to_the_unets_image():
    op, _, y, x0 = eit_pixels()
    torch.manual_seed(0)
    net = build_net_from_config(CONFIG, op.in_shape).double().eval()
    with torch.no_grad():
        unet_image = net.unet(y, x0)
        assert not torch.allclose(unet_image, x0)  # the U-Net changes its input
        torch.testing.assert_close(net(y, op, x0), net.refiner.iterate(y, op, unet_image))


def test_the_refinement_sees_the_data_and_the_unet_does_not():
    op, _, y, x0 = eit_pixels()
    torch.manual_seed(1)
    net = build_net_from_config(CONFIG, op.in_shape).double().eval()
    with torch.no_grad():
        y2 = y * 1.1
        torch.testing.assert_close(net.unet(y, x0), net.unet(y2, x0))
        assert float((net(y, op, x0) - net(y2, op, x0)).abs().max()) > 1e-6


def test_a_unet_checkpoint_starts_it_and_a_foreign_one_is_refused():
    op, _, y, x0 = eit_pixels()
    torch.manual_seed(2)
    unet = build_net_from_config({"arch": "unet", "levels": 1, "hidden": 4}, op.in_shape).double().eval()
    net = build_net_from_config(CONFIG, op.in_shape).double().eval()
    fit_backbone(net, unet.state_dict(), "unet.pt")
    with torch.no_grad():
        torch.testing.assert_close(net.unet(y, x0), unet(y, op, x0))
    wider = build_net_from_config({"arch": "unet", "levels": 1, "hidden": 8}, op.in_shape)
    with pytest.raises((ValueError, RuntimeError), match="unet.pt|size mismatch"):
        fit_backbone(net, wider.state_dict(), "unet.pt")


def test_a_frozen_unet_stays_fixed_while_the_refinement_learns():
    op, x, y, x0 = eit_pixels()
    torch.manual_seed(3)
    net = build_net_from_config({**CONFIG, "freeze_unet": True}, op.in_shape).double()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        loss = ((net(y, op, x0) - x) ** 2).mean()
        loss.backward()
        opt.step()
    after = net.state_dict()
    for key, value in before.items():  # batch-norm statistics included
        if key.startswith("refiner."):
            continue
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("refiner."))


def test_it_rebuilds_from_its_record():
    op, _, y, x0 = eit_pixels()
    torch.manual_seed(4)
    net = build_net_from_config({**CONFIG, "direction": "momentum"}, op.in_shape).double().eval()
    twin = build_net(net.arch).double().eval()
    twin.load_state_dict(net.state_dict())
    assert twin.arch == net.arch and net.arch["net"] == "unet_lpgd"
    with torch.no_grad():
        torch.testing.assert_close(twin(y, op, x0), net(y, op, x0))
    with pytest.raises(ValueError, match="refine_hidden"):
        build_net_from_config({**CONFIG, "refine_hidden": 0}, op.in_shape)
