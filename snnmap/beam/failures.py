"""What a failed Beam run reports: :class:`BeamRunError`, naming the record that failed."""

from __future__ import annotations

from ..errors import SnnmapError

#: Opens the message of a record's failure, so the driver can find it inside Beam's wrapping.
MARK = "snnmap record "


class BeamRunError(SnnmapError, RuntimeError):
    """A Beam pipeline of snnmap failed: a worker raised, or a record was corrupt.

    The message names the record (its test-image indices and where it was read from) and what
    was wrong; nothing was written to the results.
    """


def record_error(record, err):
    """A :class:`BeamRunError` for a failure on ``record``, naming it.

    Parameters
    ----------
    record : dict
        The record (``start``, ``stop``, ``origin``).
    err : BaseException
        What was raised on it.
    """
    where = f"{MARK}{record.get('origin', '?')} images {record.get('start')}..{record.get('stop', 0) - 1}"
    return BeamRunError(f"{where}: {type(err).__name__}: {err}")


def run_failed(runner, err):
    """The driver's error for a pipeline that raised ``err``: the record's message when there is one.

    Beam wraps a worker's exception (several times, with stack traces); the line of ours is
    what a user needs, so it is looked up and put first.

    Parameters
    ----------
    runner : str
        The runner's name, for the message.
    err : BaseException
        What ``pipeline.run()`` raised.
    """
    text = str(err)
    ours = next((line.strip() for line in text.splitlines() if MARK in line), None)
    if ours is not None:
        ours = ours[ours.index(MARK):]
        # Beam may append its own context to the line; keep ours whole up to it.
        ours = ours.split(" [while running")[0].rstrip("'\" ")
        return BeamRunError(f"the Beam pipeline on {runner} failed on a record: {ours}; nothing was written")
    first = text.strip().splitlines()[0][:500] if text.strip() else type(err).__name__
    return BeamRunError(f"the Beam pipeline on {runner} failed ({type(err).__name__}: {first}); nothing was "
                        "written")
