"""Report command: the HTML page of a run's or a sweep's results JSON.

    python -m snnmap.report PATH.json
    python -m snnmap.report PATH.json --out page.html
    python -m snnmap.report --flagfile flags/fashionmnist_fc.txt PATH.json

The page itself is built by :mod:`snnmap.reporting.html`; this command only parses its
arguments.  Like every snnmap command it accepts every snnmap flag (so the flag file of a run
serves it too) and ignores those it does not use.  When figures of a run are missing from the
page (and cannot be drawn from a snapshot), one line ``note: ...`` says which and why.  The last
line of standard output is ``report: <path>``.
"""

from __future__ import annotations

import importlib
import sys

from absl import flags

from . import cli

REPORT = "report"
cli.define_common_flags()
cli.define(REPORT, "string", "out", None, "Where to write the page (default: PATH with .html instead of .json).")
FLAGS = flags.FLAGS


def _paths(argv) -> list:
    """The positional arguments of ``argv`` after parsing its flags (``--flagfile`` included)."""
    FLAGS.unparse_flags()  # main() may run more than once in a process (tests): no value of a previous call
    try:
        return FLAGS(["snnmap.report", *argv])[1:]
    except flags.Error as err:
        raise ValueError(f"{err} (python -m snnmap.report --help lists the flags)") from None


def main(argv=None) -> int:
    """Write the page of the one results JSON named in ``argv`` (default: the command line); 0 when done.

    Parameters
    ----------
    argv : list of str, optional
        The arguments without the program name: ``PATH`` and flags.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(cli.help_text("report", __doc__, (REPORT,)))
        return 0
    paths = _paths(argv)
    if len(paths) != 1:
        raise ValueError(f"give one results JSON (PATH), got {len(paths)}: {paths} (python -m snnmap.report PATH)")
    # Imported here: the pages import matplotlib and the pipeline (TensorFlow), which --help does not wait for.
    written = importlib.import_module("snnmap.reporting.html").write_page(paths[0], FLAGS.out)
    if written.missing:
        print(f"note: {paths[0]}: {written.missing}")
    print(f"report: {written.path}")
    return 0


def run():
    if not cli.wants_help(sys.argv[1:]):
        cli.quiet_start()
    raise SystemExit(cli.guarded(main)(None))


if __name__ == "__main__":
    run()
