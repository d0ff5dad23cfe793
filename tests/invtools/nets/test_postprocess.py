"""The post-processing U-Net: shapes, rebuild from its record, refusals, and that it learns."""

import pytest
import scipy.sparse as sp
import torch

from invtools.nets import build_net, build_net_from_config


def test_unet_keeps_the_shape_and_rebuilds_from_its_record():
    torch.manual_seed(0)
    net = build_net_from_config({"arch": "unet", "levels": 2, "hidden": 8}, (16, 16))
    x0 = torch.randn(3, 16, 16)
    out = net(None, None, x0)
    assert out.shape == x0.shape
    twin = build_net(net.arch)
    twin.load_state_dict(net.state_dict())
    net.eval(), twin.eval()
    torch.testing.assert_close(net(None, None, x0), twin(None, None, x0))


def test_unet_refuses_what_it_cannot_process():
    with pytest.raises(ValueError, match="2-D images"):
        build_net_from_config({"arch": "unet"}, (64,))
    with pytest.raises(ValueError, match="on a mesh"):
        build_net_from_config({"arch": "unet"}, (4, 4), adjacency=sp.eye(16))
    with pytest.raises(ValueError, match="divisible"):
        build_net_from_config({"arch": "unet", "levels": 3}, (12, 12))
    with pytest.raises(ValueError, match="LPGD option|unknown option"):
        build_net_from_config({"arch": "unet", "steps": 3}, (16, 16))


def test_unet_learns_to_sharpen_a_blurred_image():
    torch.manual_seed(0)
    truth = (torch.rand(64, 1, 16, 16) > 0.8).float()
    blur = torch.nn.functional.avg_pool2d(truth, 3, stride=1, padding=1)
    truth, blur = truth[:, 0], blur[:, 0]
    net = build_net_from_config({"arch": "unet", "levels": 1, "hidden": 8}, (16, 16))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    start = float(((blur - truth) ** 2).mean())
    for _ in range(150):
        opt.zero_grad()
        loss = ((net(None, None, blur) - truth) ** 2).mean()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        assert float(((net(None, None, blur) - truth) ** 2).mean()) < 0.5 * start
