import numpy as np
import pytest
import scipy.sparse as sp
import torch

from invtools.nets.blocks import GraphConv, ResidualBlock
from invtools.operators.geometry import element_adjacency


@pytest.fixture(scope="module")
def adjacency():
    rng = np.random.default_rng(0)
    A = sp.random(40, 40, density=0.1, random_state=rng, format="csr") + sp.eye(40)
    return sp.diags(1.0 / np.asarray(A.sum(axis=1)).ravel()) @ A  # row-normalised, not symmetric


def test_graph_conv_is_the_sparse_formula(adjacency):
    torch.manual_seed(0)
    conv = GraphConv(3, 5, adjacency).double()
    x = torch.randn(2, 3, 40, dtype=torch.float64)
    neighbours = np.stack([(adjacency @ xb.numpy().T).T for xb in x])
    expected = conv.weight.detach() @ torch.cat([x, torch.as_tensor(neighbours)], dim=1)
    torch.testing.assert_close(conv(x), expected + conv.bias.detach()[:, None])


def test_graph_conv_derivatives_of_first_and_second_order(adjacency):
    conv = GraphConv(2, 2, adjacency).double()
    x = torch.randn(2, 2, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))
    assert torch.autograd.gradgradcheck(conv, (x,))


def test_graph_conv_float32_and_old_checkpoints(adjacency):
    conv = GraphConv(2, 2, adjacency)
    assert conv(torch.randn(1, 2, 40)).dtype == torch.float32
    state = conv.state_dict()
    assert set(state) == {"weight", "bias"}  # the adjacency comes from the mesh, not the file
    old = {**state, "nb_index": torch.zeros(3), "nb_weight": torch.zeros(3)}
    GraphConv(2, 2, adjacency).load_state_dict(old)  # strict: stale neighbour tables are dropped


def test_mesh_residual_block_matches_its_layers_applied_channel_first(adjacency):
    """The block runs node-major internally; it must equal conv, PReLU, ... on (B, C, n)."""
    torch.manual_seed(0)
    block = ResidualBlock("mesh", 3, 2, 8, adjacency).double()
    for p in block.parameters():  # random PReLU slopes and a non-small last layer
        torch.nn.init.normal_(p)
    x = torch.randn(4, 3, 40, dtype=torch.float64)
    h = x
    for layer in block.layers:
        h = layer(h)  # GraphConv on (B, C, n); PReLU with channel axis 1
    torch.testing.assert_close(block(x), h)
    assert block(x).shape == (4, 2, 40)


def test_graph_conv_survives_deepcopy_pickle_and_dtype_change(adjacency, tmp_path):
    """The cached sparse matrices are rebuilt, never copied (CSR tensors have no storage)."""
    import copy

    torch.manual_seed(0)
    conv = GraphConv(2, 3, adjacency)
    x = torch.randn(2, 2, 40)
    y = conv(x)  # fills the cache
    torch.testing.assert_close(copy.deepcopy(conv)(x), y, rtol=0, atol=0)
    torch.save(conv, tmp_path / "conv.pt")
    torch.testing.assert_close(torch.load(tmp_path / "conv.pt", weights_only=False)(x), y,
                               rtol=0, atol=0)
    torch.testing.assert_close(copy.deepcopy(conv).double()(x.double()), y.double(),
                               rtol=1e-6, atol=1e-6)


def test_element_adjacency_rows_sum_to_one():
    triangles = np.array([[0, 1, 2], [1, 3, 2], [3, 4, 2]]).T
    A = element_adjacency(triangles).toarray()
    np.testing.assert_allclose(A, [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
