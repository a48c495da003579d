"""What the benchmarks share: each measured step runs in a child process of its own (a
clean heap for its peak memory, no warm caches from the step before)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, args: list[str]) -> dict:
    """Run ``python -m module *args``; its last stdout line is the JSON it measured."""
    proc = subprocess.run([sys.executable, "-m", module, *args],
                          capture_output=True, text=True, env={**os.environ})
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args[:2]} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_command(cmd: list[str], env: dict) -> float:
    """Seconds one command takes as a process of its own (start-up included); it must
    succeed."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {out.stderr.strip()[:200]}")
    return took
