"""The 8-electrode device of device_files.py, as a description file in a temporary folder."""

import pytest
from device_files import EIGHT


@pytest.fixture
def eight(tmp_path):
    """(description path, folder) of the 8-electrode device."""
    path = tmp_path / "eight.toml"
    path.write_text(EIGHT)
    return path, tmp_path
