import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


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
