"""Synthetic data sets: HDF5 schema, generation from recipes, shard merging, torch Dataset,
and readers of measurement files."""

from invtools.data.generate import generate, parse_shard, shard_range
from invtools.data.h5file import SCHEMA_VERSION, DataFileError, open_data_file, read_attrs
from invtools.data.merge import merge
from invtools.data.torch_dataset import H5Dataset

__all__ = ["SCHEMA_VERSION", "DataFileError", "H5Dataset", "generate", "merge", "open_data_file",
           "parse_shard", "read_attrs", "shard_range"]
