"""The whole survey campaign through Prefect vs the same planning called directly.

    .venv/bin/python -m bench.bench_flow [--members 1000000] [--template FILE]

Seeds a SQLite ledger (or copies ``--template``), then on two copies of it times: the
survey flow run through Prefect (a local temporary server, telemetry off: flow, one task
per 100,000 member ids, progress and summary artifacts) and `tasks.campaigns.plan_jobs.plan_campaign`
called directly. Issue 3 asks for the flow under 30 s at 1,000,000 members.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")

TODAY = dt.date(2026, 11, 20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--template", help="an already seeded and migrated SQLite file")
    args = ap.parse_args()
    from outreach.db import migrate
    from outreach.db.session import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        if args.template:
            shutil.copy(args.template, base)
        else:
            from outreach.seed.generate import seed_ledger

            eng = make_engine(f"sqlite:///{base}")
            migrate.upgrade(eng)
            t = time.perf_counter()
            seed_ledger(eng, members=args.members, seed=5, today=TODAY)
            eng.dispose()
            print(f"seeded {args.members:,} members in {time.perf_counter() - t:.1f} s")
        direct, flowed = Path(tmp) / "direct.db", Path(tmp) / "flow.db"
        shutil.copy(base, direct)
        shutil.copy(base, flowed)

        from outreach.tasks.campaigns import plan_jobs

        t = time.perf_counter()
        out = plan_jobs.plan_campaign(make_engine(f"sqlite:///{direct}"), "survey", "2026-11",
                                 today=TODAY)
        plain = time.perf_counter() - t
        os.environ["OUTREACH_DATABASE_URL"] = f"sqlite:///{flowed}"
        from outreach.flows.campaigns import survey

        t0 = time.perf_counter()
        state = survey(period="2026-11", today=TODAY, return_state=True)
        whole = time.perf_counter() - t0
        res = state.result()
        assert res["created"] == out["created"], (res, out)
        print(f"survey over {args.members:,} members: {res['created']:,} tasks, "
              f"{res['batches']} planning tasks")
        print(f"  plan_campaign called directly   {plain:7.2f} s")
        print(f"  the flow through Prefect        {whole:7.2f} s   "
              f"({whole - plain:+.2f} s, ratio {whole / plain:.2f}x; target < 30 s: "
              f"{'met' if whole < 30 else 'MISSED'})")
        print("  (the flow's time includes starting Prefect's temporary local server)")


if __name__ == "__main__":
    main()
