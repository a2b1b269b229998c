"""Figures and the HTML report of runs and sweeps."""
