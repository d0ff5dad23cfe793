"""Data generation on a device (``generate --device``, ``--solver``): the batched dense solve and
the linearised x0 on the device give the CPU's data to 1e-10, each sample independent of its
batch; bad device settings are refused by name."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from invtools.data import generate
from invtools.data.generate import check_device
from invtools.data.h5file import read_attrs
from invtools.data.recipes import Problem, Recipe, load_recipe, use_solver

X0_TOL = 1e-7  # see test_the_dense_solver_gives_the_sparse_solvers_data


def small_tank() -> Recipe:
    """The ktc2023 preset on coarse meshes (masks, difference data, the masked linearised x0)."""
    d = load_recipe("ktc2023").to_dict()
    d["operator"].update(h=0.03, pixels=8, simulation_mesh_size=0.02, simulation_edge_levels=0)
    return Recipe.from_dict(d)


def rel(a, b):
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def cpu_samples():
    return Problem(small_tank()).samples(np.arange(6), seed=4)


def test_the_dense_solver_gives_the_sparse_solvers_data(cpu_samples):
    dense = Problem(small_tank(), solver="dense").samples(np.arange(6), seed=4)
    assert np.array_equal(dense["x"], cpu_samples["x"])
    assert np.array_equal(dense["mask"], cpu_samples["mask"])
    assert np.array_equal(np.isnan(dense["y"]), np.isnan(cpu_samples["y"]))
    # two factorisations of a system with condition number ~8e6 (the coarse simulation mesh,
    # banded Cholesky on the host, dense Cholesky here) agree to ~eps * cond = 2e-9 at worst;
    # each is pinned against an iteratively refined solve in tests/forward_models/eit
    assert rel(dense["y"], cpu_samples["y"]) < 1e-9
    # x0 is a regularised solve whose matrix J^T J + lam R has a condition number of ~4e5 here:
    # the Jacobian's rounding (~3e-11) grows to ~3e-9 in the step
    assert rel(np.log(dense["x0"]), np.log(cpu_samples["x0"])) < X0_TOL


def test_a_dense_sample_does_not_depend_on_its_batch():
    problem = Problem(small_tank(), solver="dense")
    batch = problem.samples(np.arange(2, 5), seed=4)
    alone = problem.samples(np.array([3]), seed=4)
    for name in ("x", "y", "x0"):
        np.testing.assert_array_equal(alone[name][0], batch[name][1])


def test_use_solver_reaches_the_cem_inside_compositions():
    problem = Problem(small_tank())
    use_solver(problem.net_op, "dense")
    assert problem.op.outer.solver_kind == "dense"
    with pytest.raises(ValueError, match="solver 'lu': must be one of"):
        use_solver(problem.op, "lu")


def test_generate_records_the_device_and_solver(tmp_path):
    out = generate(small_tank(), tmp_path / "d.h5", 4, seed=4, block=2, progress=False, solver="dense")
    prov = read_attrs(out)["provenance"]
    assert (prov["device"], prov["solver"]) == ("cpu", "dense")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_is_refused_by_name_where_there_is_none(tmp_path):
    with pytest.raises(ValueError, match="no CUDA device is available"):
        check_device("cuda", 1)
    run = subprocess.run([sys.executable, "-m", "invtools.workflow.cli", "generate", "ktc2023",
                          "--out", str(tmp_path / "c.h5"), "-n", "2", "--device", "cuda"],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "no CUDA device is available" in run.stderr
    assert not (tmp_path / "c.h5").exists()


def test_bad_device_names_are_refused():
    with pytest.raises(ValueError, match="not a torch device"):
        check_device("gpu0", 1)
    with pytest.raises(ValueError, match="runs on cpu or cuda"):
        check_device("meta", 1)
    assert check_device("auto", 2).type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generation_equals_the_cpu(cpu_samples):
    with pytest.raises(ValueError, match="--workers must be 1"):
        check_device("cuda", 2)
    gpu = Problem(small_tank(), device="cuda").samples(np.arange(6), seed=4)
    assert np.array_equal(gpu["x"], cpu_samples["x"])
    assert rel(gpu["y"], cpu_samples["y"]) < 1e-10
    assert rel(np.log(gpu["x0"]), np.log(cpu_samples["x0"])) < X0_TOL
