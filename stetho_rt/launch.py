"""The ``stetho-rt`` console script's entry point.

It imports the command line inside a guard, so a Ctrl-C while the modules load (the first tens
of milliseconds of a run) ends in the same one line and exit code 130 as one while the command
runs, not in a traceback. Only Python's own start-up (``site`` and the ``.pth`` files of the
environment) comes before it and is beyond reach.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C or SIGTERM (the value of :data:`stetho_rt.errors.EXIT_INTERRUPTED`,
repeated here so that nothing but ``sys`` is imported before the guard)."""


def main() -> int:
    """Run the command line (:func:`stetho_rt.cli.main`); return its exit code."""
    try:
        from stetho_rt.cli import main as run_cli

        return run_cli()
    except KeyboardInterrupt:  # before or after the command line's own handling
        sys.stderr.write("stetho-rt: interrupted\n")
        sys.stderr.flush()
        return EXIT_INTERRUPTED
