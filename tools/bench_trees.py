#!/usr/bin/env python
"""Batch ``analyze`` speed of this tree against another commit, interleaved on the same machine.

Usage::

    .venv/bin/python tools/bench_trees.py REV [--passes 2]

Checks ``REV`` out into a temporary git worktree and runs section 5 of ``tools/bench.py`` (batch
``analyze`` with the detector and the classifier, first 20 files of each dataset) from each tree
in a fresh process, alternating ``REV``, this tree, ``REV``, this tree... so both see the same
machine state: absolute real-time factors move with the host's load, their order within a pass
does not. Each tree uses its own code, models and numba cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SNIPPET = """
import sys
sys.argv = ["bench"]
sys.path.insert(0, {tools!r})
import bench
bench._analyze_real()
"""


def run_section5(tree: Path) -> str:
    """Section 5's lines, run from ``tree``'s ``tools/bench.py`` in a new process."""
    code = SNIPPET.format(tools=str(tree / "tools"))
    env = {**os.environ, "STETHO_RT_DATA": os.environ.get(
        "STETHO_RT_DATA", str(REPO.parent / "shared" / "data"))}  # not beside the temporary tree
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True,
                         text=True, check=True, env=env)
    return out.stdout.rstrip()


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rev", help="commit to compare with (e.g. b2c0a1a)")
    ap.add_argument("--passes", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stetho-bench-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(other),
                        args.rev], check=True)
        try:
            for k in range(args.passes):
                for name, tree in ((args.rev, other), ("this tree", REPO)):
                    print(f"pass {k + 1}, {name}:\n{run_section5(tree)}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)],
                           check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
