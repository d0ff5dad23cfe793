"""Device adapters: found by the name a description gives (entry-point group
``invtools.device_adapters``), used by ``reconstruct`` once per file (one read, one
reconstruction); the shipped description a file belongs to found by its variables; a device's
sample files found by ``[samples]``."""

import numpy as np
import pytest
import scipy.io
from device_files import EIGHT, find_kit4, simulate, write_mat

from invtools.devices import DescriptionError, find_device, find_samples, load_adapter, load_description
from invtools.devices.adapter import ADAPTERS
from invtools.devices.reconstruct import DescribedDevice
from invtools.operators import plugins
from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import Reconstruction


def _register(monkeypatch, name, factory):
    """Make ``factory`` the adapter ``name`` in this process (as an installed package's entry point would)."""
    original = plugins.load

    def load(group, entry):
        return factory if (group, entry) == (ADAPTERS, name) else original(group, entry)

    monkeypatch.setattr(plugins, "load", load)


class ThirdDevice:
    """An adapter written outside invtools: counts its calls, images every file as zeros."""

    methods = ("gn", "mine")
    calls: list[str] = []

    def __init__(self, desc):
        self.desc = desc

    def read(self, path, reference=None):
        ThirdDevice.calls.append("read")
        return DescribedDevice(self.desc).read(path, reference)

    def reconstruct(self, meas, method="gn", trained=None, classical=None, absolute=False, mesh_size=None):
        ThirdDevice.calls.append(f"reconstruct {method}")
        return Reconstruction(x=np.zeros((1, 4, 4)), method=method, operator=None, parametrization="log",
                              source=meas.path)

    def segment(self, x, sigma0, n=None):
        return np.zeros((len(x), n or x.shape[-1], n or x.shape[-1]), dtype=np.uint8)


def _eight_files(folder, adapter=None):
    """(description, measurement file) of the 8-electrode device, the files simulated."""
    text = EIGHT.replace('name = "eight"', f'name = "eight"\nadapter = "{adapter}"') if adapter else EIGHT
    (folder / "eight.toml").write_text(text)
    desc = load_description(folder / "eight.toml")
    ref, currents = simulate(desc, None, noise=0.0, seed=1)
    write_mat(folder / "empty.mat", ref, currents)
    return folder / "eight.toml", write_mat(folder / "meas.mat", ref, currents)


def test_a_third_adapter_named_by_a_description_images_its_files(tmp_path, monkeypatch):
    _register(monkeypatch, "third", ThirdDevice)
    path, meas = _eight_files(tmp_path, "third")
    assert isinstance(load_adapter(load_description(path)), ThirdDevice)
    ThirdDevice.calls = []
    rec = reconstruct(meas, method="mine", device=path)
    assert ThirdDevice.calls == ["read", "reconstruct mine"]  # once each
    assert rec.method == "mine" and not rec.x.any()
    with pytest.raises(ValueError, match="the eight device images with --method gn or mine, not 'baseline'"):
        reconstruct(meas, method="baseline", device=path)


def test_reconstruct_reads_and_images_once_through_the_described_adapter(tmp_path, monkeypatch):
    calls = []

    class Counted(DescribedDevice):
        def read(self, path, reference=None):
            calls.append("read")
            return super().read(path, reference)

        def reconstruct(self, meas, *args, **kwargs):
            calls.append("reconstruct")
            return super().reconstruct(meas, *args, **kwargs)

    _register(monkeypatch, "described", Counted)
    path, _ = _eight_files(tmp_path)
    rec = reconstruct(tmp_path / "meas.mat", method="linearized", device=path)  # the reference's data
    assert calls == ["read", "reconstruct"]
    np.testing.assert_allclose(rec.x, rec.sigma0, rtol=1e-9)  # no change from the reference


def test_an_unknown_adapter_is_one_description_error(tmp_path):
    path, _ = _eight_files(tmp_path, "nowhere")
    message = r"eight.toml: \[device\] adapter: no 'invtools.device_adapters' plug-in named 'nowhere'"
    with pytest.raises(DescriptionError, match=message):
        load_adapter(load_description(path))


def test_the_device_of_a_file_is_found_by_its_variables(tmp_path, ktc_or_none):
    u, mpat, inj = np.ones((2356, 1)), np.eye(32, 31), np.zeros((32, 76))
    scipy.io.savemat(tmp_path / "tank.mat", {"Uel": u, "Inj": inj, "Mpat": mpat})
    scipy.io.savemat(tmp_path / "ref.mat", {"Uelref": u, "Injref": inj, "Mpat": mpat})
    scipy.io.savemat(tmp_path / "open.mat", {"Uel": np.ones((16, 79)), "CurrentPattern": np.zeros((16, 79))})
    scipy.io.savemat(tmp_path / "both.mat", {"Uel": u, "Inj": inj, "Mpat": mpat, "CurrentPattern": inj})
    scipy.io.savemat(tmp_path / "plain.mat", {"y": np.ones(5)})
    assert find_device(tmp_path / "tank.mat").name == "ktc2023"
    assert find_device(tmp_path / "ref.mat").name == "ktc2023"  # a reference file, by [reference]
    assert find_device(tmp_path / "open.mat").name == "kit4"
    assert find_device(tmp_path / "plain.mat") is None and find_device(tmp_path / "y.csv") is None
    message = r"both.mat: fits the devices \['kit4', 'ktc2023'\]; pass --device"
    with pytest.raises(DescriptionError, match=message):
        find_device(tmp_path / "both.mat")
    kit4 = find_kit4()
    if kit4 is not None:
        assert find_device(kit4 / "datamat_2_1.mat").name == "kit4"
    if ktc_or_none is not None:
        assert find_device(ktc_or_none / "levels" / "level5" / "data2.mat").name == "ktc2023"


def test_samples_are_found_by_the_environment_then_the_shared_folder(tmp_path, monkeypatch):
    desc = load_description("kit4")
    assert desc["samples"]["env"] == "INVTOOLS_KIT4" and desc["samples"]["model"] == "kit4"
    folder = tmp_path / "mine"
    folder.mkdir()
    monkeypatch.setenv("INVTOOLS_KIT4", str(folder))
    monkeypatch.chdir(tmp_path)
    assert find_samples(desc, tmp_path / "work") is None  # the files are not there yet
    for name in desc["samples"]["files"]:
        (folder / name).write_bytes(b"")
    assert find_samples(desc) == folder
    monkeypatch.delenv("INVTOOLS_KIT4")
    assert find_samples(desc, tmp_path / "work") is None
    shared = tmp_path / "shared" / "kit4"
    folder.rename(shared.parent.mkdir() or shared)
    assert find_samples(desc, tmp_path / "work") == shared
    ktc = load_description("ktc2023")["samples"]
    assert ktc["model"] == "ktc2023" and ktc["files"][0] == "data1.mat"
