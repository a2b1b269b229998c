"""``python -m snnmap.report PATH``: the HTML page of a run's or a sweep's results JSON.

The page itself is built by :mod:`snnmap.reporting.html`; this command only parses its
arguments.  When figures of a run are missing from the page (and cannot be drawn from a
snapshot), one line ``note: ...`` says which and why.  The last line of standard output is
``report: <path>``.
"""

from __future__ import annotations

import argparse

from .reporting.html import write_page


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m snnmap.report",
                                     description="One self-contained HTML page for a run's or a sweep's JSON.")
    parser.add_argument("path", help="phase 2's results JSON, or a sweep JSON (rows + grid)")
    parser.add_argument("--out", default=None, help="the page (default: PATH with .html instead of .json)")
    args = parser.parse_args(argv)
    written = write_page(args.path, args.out)
    if written.missing:
        print(f"note: {args.path}: {written.missing}")
    print(f"report: {written.path}")
    return 0


def run():
    raise SystemExit(main())


if __name__ == "__main__":
    run()
