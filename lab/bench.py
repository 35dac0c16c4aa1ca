"""Benchmark the deploy against the lab: ``python -m lab.bench [--nodes 3 5 ...]``.

For each lab size (2 masters + N KVM nodes): a full converge on a fresh lab,
then the median wall time of no-op re-runs and of ``--dry --diff``, and the
remote commands each host ran in a no-op re-run (counted from pyinfra's
``--debug`` log). Prints a table; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import lab

ROOT = Path(__file__).resolve().parents[1]
_RUNNING = re.compile(r"Running command on (\S+):")


def _pyinfra(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    command = [sys.executable, "-m", "pyinfra", "lab/inventory.py", "deploy.py", *args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"pyinfra {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return elapsed, result


def _median(args: tuple[str, ...], runs: int) -> float:
    return statistics.median(_pyinfra(*args)[0] for _ in range(runs))


def measure(nodes: int, runs: int) -> dict:
    lab.reset(nodes=nodes)
    converge, _ = _pyinfra("-y")
    _, debug = _pyinfra("-y", "--debug")
    per_host = Counter(_RUNNING.findall(debug.stdout + debug.stderr))
    return {
        "nodes": nodes,
        "converge": converge,
        "noop": _median(("-y",), runs),
        "dry_diff": _median(("--dry", "--diff"), runs),
        "commands_per_host": max(per_host.values()) if per_host else 0,
    }


def render(rows: list[dict]) -> str:
    lines = ["| KVM nodes (+2 masters) | converge (s) | no-op re-run (s) | --dry --diff (s) "
             "| remote commands per host, no-op |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['nodes']} | {row['converge']:.2f} | {row['noop']:.2f} "
                     f"| {row['dry_diff']:.2f} | {row['commands_per_host']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--runs", type=int, default=5, help="runs per median")
    args = parser.parse_args(argv)
    rows = []
    try:
        for nodes in args.nodes:
            rows.append(measure(nodes, args.runs))
            print(render(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        lab.up(nodes=3)
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
