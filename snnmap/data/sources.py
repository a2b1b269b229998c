"""Former single module of the data loaders; its names now live in :mod:`snnmap.data`, which this re-exports."""

from . import *  # noqa: F401,F403
