"""Errors (and the one warning) snnmap raises for bad input; each message names the problem and what to do."""


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


class InputRangeError(SnnmapError, ValueError):
    """An ``input_range`` that is not a pair ``(p, q)`` of finite numbers with ``q > p``, or data outside it.

    Parameters
    ----------
    message : str
        What was observed (the data's minimum and maximum, the range) and what to do.
    argument : str, optional
        The argument whose value would fix it (``"input_range"``), for a command line to name its own option.
    """

    def __init__(self, message: str, argument: str | None = "input_range"):
        super().__init__(message)
        self.argument = argument


class InexactConversionError(SnnmapError, RuntimeError):
    """A converted SNN that does not reproduce the original network's logits, so it is not returned.

    Parameters
    ----------
    message : str
        The error observed, the tolerance, and the layer where it starts if it is known.
    layer_name : str, optional
        That layer's name.
    """

    def __init__(self, message: str, layer_name: str | None = None):
        super().__init__(message)
        self.layer_name = layer_name


class Phase1FileError(SnnmapError, ValueError):
    """A phase-1 file that exists but cannot be used (garbage, truncated, hand-edited out of range).

    Parameters
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it and what to do.
    """

    def __init__(self, path: str, problem: str):
        super().__init__(f"'{path}': {problem}")
        self.path = path


class DataSourceError(SnnmapError, RuntimeError):
    """A data set that cannot be found, read or parsed.

    The message names the file, directory or source concerned and says what to do. It stays a
    :class:`RuntimeError`, as before it joined :class:`SnnmapError`, so existing handlers still catch it.

    Parameters
    ----------
    message : str
        What went wrong and what to do; it names arguments of :func:`snnmap.data.load` (``data_dir=``),
        never command-line options.
    argument : str, optional
        The argument of :func:`snnmap.data.load` whose value would fix the problem (``"data_dir"``), so
        that a command line can name its own option for it; ``None`` when no single argument does.
    """

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class RateSettingsError(SnnmapError, ValueError):
    """Settings of a rate-coded simulation (:mod:`snnmap.rate`) that cannot be used: a number of time steps
    T <= 0, an unknown normalisation, input, reset or readout, a parameter out of its range.

    The message starts with the argument concerned (``checkpoints``, ``normalisation``, ...), so that a
    command line can name its own option for it.
    """


class SampleDataWarning(UserWarning):
    """MNIST fell back to the bundled 5,000-image sample, not the full data set.

    A :class:`UserWarning`, so it is shown by default; ``warnings.filterwarnings("ignore",
    category=SampleDataWarning)`` silences it alone.

    Parameters
    ----------
    message : str
        Why the sample was used and how to get the full data.
    argument : str, optional
        The argument of :func:`snnmap.data.load` that would give the full data (``"data_dir"``), for a
        command line to name its own option.
    """

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument
