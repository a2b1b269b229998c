"""Errors snnmap raises for bad input; each message names the problem and what to do."""


class SnnmapError(Exception):
    """Base class of snnmap's errors."""


class UnsupportedLayerError(SnnmapError, ValueError):
    """A layer (or model structure) the exact mapping cannot convert."""

    def __init__(self, layer, reason: str):
        name = getattr(layer, "name", str(layer))
        kind = type(layer).__name__
        self.layer_name = name
        super().__init__(f"layer '{name}' ({kind}) is not supported: {reason}")


class ShapeError(SnnmapError, ValueError):
    """Data whose shape does not match the model."""


class InvalidWeightsError(SnnmapError, ValueError):
    """Weights that are NaN, infinite, or otherwise unusable."""


class MissingPhase1Error(SnnmapError, FileNotFoundError):
    """Phase 2 was asked to run before phase 1 wrote its outputs."""
