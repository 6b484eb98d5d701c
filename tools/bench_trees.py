#!/usr/bin/env python
"""Batch ``analyze`` speed of this tree against another commit, interleaved on the same machine.

Usage::

    .venv/bin/python tools/bench_trees.py REV [--passes 2] [--limit 20]

Checks ``REV`` out into a temporary git worktree and runs section 5 of ``tools/bench.py`` (batch
``analyze`` with the detector and the classifier, first ``--limit`` files of each dataset) from
each tree in a fresh process, alternating ``REV``, this tree, ``REV``, this tree... so both see
the same machine state: absolute real-time factors move with the host's load, their order within
a pass does not. Each tree uses its own code, models and numba cache. A summary follows the
passes: per dataset, each tree's real-time factors in pass order, their median, and the ratio of
this tree's median to ``REV``'s.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

from _paths import data_dir  # noqa: E402

SNIPPET = """
import sys
sys.path.insert(0, {tools!r})
import bench
bench._analyze_real({limit})
"""

# a line of section 5: "  circor2022     20 files   412.3 s audio:     700x real time (wall), ..."
LINE = re.compile(r"^\s*(\S+)\s+\d+ files\s+\S+ s audio:\s+(\S+)x real time \(wall\)", re.M)


def run_section5(tree: Path, limit: int = 20) -> str:
    """Section 5's lines for the first ``limit`` files per dataset, run from ``tree``'s
    ``tools/bench.py`` in a new process."""
    code = SNIPPET.format(tools=str(tree / "tools"), limit=int(limit))
    env = {**os.environ, "STETHO_RT_DATA": str(data_dir())}  # not beside the temporary tree
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True,
                         text=True, check=True, env=env)
    return out.stdout.rstrip()


def real_time_factors(lines: str) -> dict[str, float]:
    """Dataset -> batch real-time factor [s of audio per s of wall clock] in section 5's lines."""
    return {name: float(x) for name, x in LINE.findall(lines)}


def summarise(runs: dict[str, list[dict[str, float]]]) -> list[str]:
    """One line per dataset: each tree's real-time factors (:func:`real_time_factors`) in pass
    order and their median [x real time], then the last tree's median over the first's.

    ``runs`` maps a tree's name to its passes, the reference tree first.
    """
    names = list(runs)
    datasets = list(dict.fromkeys(d for passes in runs.values() for p in passes for d in p))
    lines = []
    for ds in datasets:
        cells, medians = [], []
        for name in names:
            xs = [p[ds] for p in runs[name] if ds in p]
            medians.append(statistics.median(xs) if xs else float("nan"))
            cells.append(f"{name} {'/'.join(f'{x:.0f}' for x in xs) or '-'} "
                         f"(median {medians[-1]:.0f})")
        lines.append(f"  {ds:<14} {'   '.join(cells)}   ratio {medians[-1] / medians[0]:.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rev", help="commit to compare with (e.g. b2c0a1a)")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--limit", type=int, default=20, help="files per dataset")
    args = ap.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {args.rev: [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="stetho-bench-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(other),
                        args.rev], check=True)
        try:
            for k in range(args.passes):
                for name, tree in ((args.rev, other), ("this tree", REPO)):
                    lines = run_section5(tree, args.limit)
                    runs[name].append(real_time_factors(lines))
                    print(f"pass {k + 1}, {name}:\n{lines}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)],
                           check=False)
    print(f"summary, x real time (wall) per pass; ratio = this tree / {args.rev}:")
    print("\n".join(summarise(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
