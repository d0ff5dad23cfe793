"""The reader a description drives: layouts, scales, missing values, named patterns, and files
that do not match their description refused naming both numbers."""

import numpy as np
import pytest
import scipy.io
from device_files import EIGHT, currents8, find_kit4, write_mat

from invtools.data.h5file import DataFileError
from invtools.devices import load_description, parse_description, read_device_file
from invtools.devices.reader import named_currents, named_measurements


def _files(folder, u=None, ref=None):
    rng = np.random.default_rng(1)
    u = rng.standard_normal(16 * 8) if u is None else u
    ref = rng.standard_normal(16 * 8) if ref is None else ref
    write_mat(folder / "empty.mat", ref, currents8())
    return write_mat(folder / "m.mat", u, currents8()), u, ref


def test_layouts_give_the_injection_major_vector(eight):
    path, folder = eight
    m_path, u, ref = _files(folder)
    m = read_device_file(load_description(path), m_path)
    np.testing.assert_array_equal(m.y[0], u)
    np.testing.assert_array_equal(m.reference, ref)
    np.testing.assert_array_equal(m.extra["currents"], currents8())
    np.testing.assert_array_equal(m.extra["measurement"], named_measurements("adjacent", 8))
    assert m.mask is None
    # the same numbers stored pattern-by-measurement, or flat, and scaled
    for layout, stored in (("pattern-by-measurement", u.reshape(16, 8)), ("flat", u[:, None])):
        text = EIGHT.replace('"measurement-by-pattern"', f'"{layout}"').replace("voltage_scale = 1.0",
                                                                              "voltage_scale = 1e-3")
        desc = parse_description(text, path)
        scipy.io.savemat(folder / "empty.mat", {"V": stored, "I": currents8().T})
        scipy.io.savemat(folder / "m2.mat", {"V": stored, "I": currents8().T})
        np.testing.assert_allclose(read_device_file(desc, folder / "m2.mat").y[0], 1e-3 * u)


def test_missing_values_become_the_mask(eight):
    path, folder = eight
    u = np.arange(1.0, 129.0)
    u[[3, 70]] = np.nan
    ref = np.ones(128)
    ref[5] = np.nan
    m_path, _, _ = _files(folder, u, ref)
    m = read_device_file(load_description(path), m_path)
    assert m.mask.sum() == 125 and not m.mask[[3, 5, 70]].any()
    assert m.y[0, 3] == 0 and m.reference[5] == 0
    # a sentinel value marks the missing ones instead
    desc = parse_description(EIGHT.replace('missing = "nan"', "missing = -999.0"), path)
    write_mat(m_path, np.where(np.isnan(u), -999.0, u), currents8())
    write_mat(folder / "empty.mat", np.ones(128), currents8())
    assert read_device_file(desc, m_path).mask.sum() == 126
    desc = parse_description(EIGHT.replace('missing = "nan"', 'missing = "none"'), path)
    with pytest.raises(DataFileError, match="has 2 NaN value"):
        read_device_file(desc, write_mat(folder / "m3.mat", u, currents8()))


def test_named_patterns():
    np.testing.assert_array_equal(named_currents("adjacent", 4, 2.0)[1], [0, 2, -2, 0])
    np.testing.assert_array_equal(named_currents("skip-1", 4)[3], [0, -1, 0, 1])
    assert named_currents("opposite", 8).shape == (4, 8)
    trig = named_currents("trigonometric", 8)
    assert trig.shape == (7, 8) and np.allclose(trig.sum(axis=1), 0)
    np.testing.assert_array_equal(named_measurements("adjacent", 3), [[1, -1, 0], [0, 1, -1], [-1, 0, 1]])
    with pytest.raises(ValueError, match="skip must be below 3"):
        named_currents("skip-3", 4)


def test_a_file_of_another_device_is_refused_naming_both_numbers(eight):
    path, folder = eight
    desc = load_description(path)
    _files(folder)
    wide = np.zeros((16, 10))
    wide[:, 0], wide[:, 1] = 1, -1
    scipy.io.savemat(folder / "ten.mat", {"V": np.zeros((8, 16)), "I": wide.T})
    with pytest.raises(DataFileError, match=r"I drives 10 electrodes, the description eight.toml has 8"):
        read_device_file(desc, folder / "ten.mat")
    scipy.io.savemat(folder / "short.mat", {"V": np.zeros((8, 12)), "I": currents8().T})
    with pytest.raises(DataFileError, match=r"V has shape \(8, 12\), the description eight.toml expects "
                                            r"\(8, 16\) \(measurement-by-pattern: 16 patterns, 8 "):
        read_device_file(desc, folder / "short.mat")
    flat = parse_description(EIGHT.replace('"measurement-by-pattern"', '"flat"'), path)
    scipy.io.savemat(folder / "flat.mat", {"V": np.zeros((100, 1)), "I": currents8().T})
    with pytest.raises(DataFileError, match=r"V has 100 values, the description eight.toml expects 16 "
                                            r"patterns x 8 measurements = 128"):
        read_device_file(flat, folder / "flat.mat")
    scipy.io.savemat(folder / "other.mat", {"U": np.zeros((8, 16))})
    with pytest.raises(DataFileError, match=r"names variable 'I', not in the file \(found \['U'\]\)"):
        read_device_file(desc, folder / "other.mat")
    # a reference with other patterns
    write_mat(folder / "m.mat", np.zeros(128), currents8())
    write_mat(folder / "empty.mat", np.zeros(64), currents8()[:8])
    with pytest.raises(DataFileError, match="the reference has 8 patterns x 8 measurements, .* 16 x 8"):
        read_device_file(desc, folder / "m.mat")


def test_kit4_and_ktc2023_files_read_by_their_descriptions(ktc_or_none):
    kit4, ktc = find_kit4(), ktc_or_none
    if kit4 is None or ktc is None:
        pytest.skip("the shared KIT4 / KTC2023 files are not here")
    m = read_device_file(load_description("kit4"), kit4 / "datamat_2_1.mat")
    assert m.y.shape == (1, 79 * 16) and m.extra["currents"].shape == (79, 16)
    raw = scipy.io.loadmat(kit4 / "datamat_2_1.mat")["Uel"]
    np.testing.assert_array_equal(m.y[0, 16:32], raw[:, 1])  # pattern 1's 16 differences
    k = read_device_file(load_description("ktc2023"), ktc / "data1.mat")
    raw, ref = scipy.io.loadmat(ktc / "data1.mat"), scipy.io.loadmat(ktc / "ref.mat")
    np.testing.assert_array_equal(k.y[0], raw["Uel"].ravel())
    np.testing.assert_array_equal(k.reference, ref["Uelref"].ravel())
    np.testing.assert_array_equal(k.extra["currents"], raw["Inj"].T)
    np.testing.assert_array_equal(k.extra["measurement"], raw["Mpat"].T)
    with pytest.raises(DataFileError, match="kit4.toml names variable 'CurrentPattern', not in the file"):
        read_device_file(load_description("kit4"), ktc / "data1.mat")
