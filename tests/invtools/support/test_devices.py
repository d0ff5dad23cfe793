import pytest
import torch

from invtools.support.devices import resolve_device


def test_auto_is_cuda_exactly_when_cuda_is_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_other_names_pass_through_to_torch():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)  # a name, not a check that it exists
    with pytest.raises(RuntimeError):
        resolve_device("gpu0")
