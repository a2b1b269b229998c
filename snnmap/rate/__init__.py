"""Rate-coded baselines: phase 1's network as integrate-and-fire neurons simulated for T steps.

The seed converters' methods (Diehl's normalisations, robust percentiles, SpikingJelly's scale
mode, NengoDL's firing-rate scaling) built on the SAME preprocessed network as the exact
single-spike SNN, so the two are compared on one model and one data set.
"""

from .normalise import Calibration, calibrate
from .settings import INPUTS, NORMALISATIONS, READOUTS, RESETS, RateSettings
from .simulate import RateNetwork, rate_network, simulate, summarise

__all__ = ["Calibration", "INPUTS", "NORMALISATIONS", "READOUTS", "RESETS", "RateNetwork", "RateSettings",
           "calibrate", "rate_network", "simulate", "summarise"]
