"""Data: recipes and their presets (:mod:`.recipes`, :mod:`.recipe_schema`), phantoms
(:mod:`.phantoms`), missing values and electrode masks (:mod:`.missing_data`), the HDF5 data-set
schema (:mod:`.h5file`), generation, shard merging, the torch Dataset, and readers of measurement
files (:mod:`.readers`, :mod:`.safe_read`)."""

from invtools.data.generate import generate, parse_shard, shard_range
from invtools.data.h5file import SCHEMA_VERSION, DataFileError, open_data_file, read_attrs
from invtools.data.merge import merge
from invtools.data.readers import Measurements, read_measurements
from invtools.data.recipes import Recipe, list_presets, load_recipe
from invtools.data.torch_dataset import H5Dataset

__all__ = ["SCHEMA_VERSION", "DataFileError", "H5Dataset", "Measurements", "Recipe", "generate",
           "list_presets", "load_recipe", "merge", "open_data_file", "parse_shard", "read_attrs",
           "read_measurements", "shard_range"]
