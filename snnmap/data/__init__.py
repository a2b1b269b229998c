"""Data sets: one module per source and a registry of the data sets snnmap knows."""

from .sources import *  # noqa: F401,F403
from .sources import DataSet, DataSourceError, SampleDataWarning, available_sources, canonical_name, load  # noqa: F401
