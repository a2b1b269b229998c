"""Experiments: run settings, file names, phase 1 / phase 2 / merge / sweep as library functions."""
