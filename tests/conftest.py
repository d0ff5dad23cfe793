import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


def tiny_train_config(arch: str = "lpgd", **train) -> str:
    """A seconds-long ``invtools train`` config (train.h5/val.h5 beside it, output in run/)."""
    settings = {"epochs": 2, "batch_size": 16, "lr": 2e-3, "seed": 0, **train}
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in settings.items())
    return (f'out = "run"\n[data]\ntrain = "train.h5"\nval = "val.h5"\n[net]\narch = "{arch}"\n'
            f'steps = 3\ndirection = "rma"\nhidden = 8\n[train]\n{lines}\n')


@pytest.fixture(scope="session")
def train_config():
    return tiny_train_config


def find_ktc2023():
    """The KTC2023 measurement folder: $INVTOOLS_KTC2023, ../shared/ktc2023 beside the checkout,
    or /work/shared/ktc2023; None if absent."""
    import os
    from pathlib import Path

    candidates = [os.environ.get("INVTOOLS_KTC2023"),
                  Path(__file__).resolve().parents[1].parent / "shared" / "ktc2023",
                  "/work/shared/ktc2023"]
    for c in candidates:
        if c and (Path(c) / "data1.mat").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def ktc_or_none():
    return find_ktc2023()


@pytest.fixture(scope="session")
def ktc(ktc_or_none):
    if ktc_or_none is None:
        pytest.skip("KTC2023 data not found (set INVTOOLS_KTC2023)")
    return ktc_or_none


@pytest.fixture(scope="session")
def same_run():
    """``same_run(a, b)``: two runs from one seed agree: to the bit on CPU; on CUDA, whose
    reductions (cuBLAS, atomics) depend on scheduling and batch shapes, to 1e-6 relative."""
    import torch

    def check(a, b) -> bool:
        if not torch.cuda.is_available():
            return a == b
        return a == pytest.approx(b, rel=1e-6, abs=1e-12)

    return check
