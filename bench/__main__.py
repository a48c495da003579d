"""Run every benchmark in turn: ``python -m bench`` (``make bench``).

Each prints its figures and their ratio against a baseline measured in the same run.
Pass ``--quick`` for small sizes (a smoke run, not figures to quote).
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = {
    "bench.bench_seed": ([], ["--members", "100000"]),
    "bench.bench_campaign": ([], ["--members", "100000", "--repeat", "1"]),
    "bench.bench_report": ([], ["--members", "100000", "--repeat", "3"]),
    "bench.bench_cli": ([], ["--sizes", "10000", "--repeat", "5"]),
    "bench.bench_service": ([], ["--clients", "8", "--records", "50", "--repeat", "5"]),
    "bench.bench_pages": ([], ["--clients", "8", "--records", "10"]),
    "bench.bench_flow": ([], ["--members", "50000"]),
    "bench.bench_meetings": ([], ["--close-members", "20000", "--report-members", "50000",
                                  "--seed-members", "20000", "--repeat", "1"]),
    "bench.bench_scorecard": ([], ["--members", "100000", "--repeat", "3"]),
    "bench.bench_xlsx": ([], ["--members", "20000", "--repeat", "1"]),
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for module, (full, small) in BENCHES.items():
        print(f"\n=== {module} ===", flush=True)
        rc = subprocess.call([sys.executable, "-m", module, *(small if quick else full)])
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
