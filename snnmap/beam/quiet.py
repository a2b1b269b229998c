"""Keeping Beam's own log lines out of a command's output, so that a user sees snnmap's progress and results.

Beam logs at three places a user of the local runner sees: when it is imported (its optional
cloud clients), in the driver while a pipeline runs (the job service relays each worker's
warnings), and in each worker process of ``multi_processing`` (which writes to the driver's
standard error).  The workers' level is a pipeline option (``default_sdk_harness_log_level``,
set in :mod:`.options`); what they log before they read it, and the relays, are dropped here
while a pipeline runs on the DirectRunner.  Errors always pass, and a user who asks for
``--default_sdk_harness_log_level=INFO`` sees everything.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import threading

#: A log line of Beam below ERROR: ``INFO:apache_beam.x:...`` or ``WARNING:root:...`` (a worker's
#: default format; Beam logs to root and, in the worker's main module, to ``__main__``), or the
#: absl format of the driver (``I1205 19:06:53.701872 1401 file.py:32] ...``).
BEAM_LOG_LINE = re.compile(rb"^(?:(?:DEBUG|INFO|WARNING):(?:root|__main__|apache_beam[\w.]*):"
                           rb"|[DIW]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] )")


def _forward(read_fd, out_fd):
    """Copy the lines of ``read_fd`` to ``out_fd`` except Beam's log lines; close both at the end."""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        for line in iter(source.readline, b""):
            if not BEAM_LOG_LINE.match(line):
                os.write(out_fd, line)
    os.close(out_fd)


@contextlib.contextmanager
def beam_lines_dropped(active=True):
    """Drop Beam's log lines (below ERROR) from this process's standard error and its children's.

    The file descriptor itself is redirected through a filter, since the DirectRunner's worker
    processes inherit it; everything else passes unchanged, line by line.

    Parameters
    ----------
    active : bool
        False: change nothing.
    """
    try:
        usable = active and os.fstat(2) is not None
    except OSError:  # no standard error to filter
        usable = False
    if not usable:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    # The thread writes to its own copy: it may outlive this block while a worker still holds the pipe.
    thread = threading.Thread(target=_forward, args=(read_fd, os.dup(saved)), daemon=True)
    thread.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        thread.join(timeout=5)  # every line written so far is out once the workers have closed the pipe


class _FromBeam(logging.Filter):
    """Passes a record unless Beam's code logged it below ERROR."""

    def filter(self, record):
        return record.levelno >= logging.ERROR or f"{os.sep}apache_beam{os.sep}" not in record.pathname


@contextlib.contextmanager
def quiet_import():
    """Around ``import apache_beam``: its import-time log lines (missing optional cloud clients) dropped."""
    logger, dropped = logging.getLogger(), _FromBeam()
    handlers = list(logger.handlers)
    logger.addFilter(dropped)
    for handler in handlers:
        handler.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)
        for handler in handlers:
            handler.removeFilter(dropped)


# Beam is imported here first (snnmap/beam/__init__.py imports this module before the others).
with quiet_import():
    importlib.import_module("apache_beam")
