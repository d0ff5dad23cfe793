import pytest
from problems import problem


@pytest.fixture(params=["blur1d", "blur2d", "eit_mesh", "eit_pixels"])
def any_problem(request):
    return (request.param, *problem(request.param))
