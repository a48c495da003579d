"""Cold start of the volunteer commands against a baseline measured in the same run.

    .venv/bin/python -m bench.bench_cli [--sizes 10000 1000000] [--repeat 15]

For each ledger size (a fresh SQLite file, seeded, with a survey and a phone-visit run
planned) it times, as separate processes: the baseline ``python -c "import
sqlalchemy.orm"``, ``outreach tasks`` and ``outreach task record ID no_answer`` (a
different task each time). It prints medians and their ratio to the baseline; issue 4
asks for at most 1.5x, and for the figures to stay flat as the ledger grows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import time_command

BIN = Path(sys.executable).parent


def _world(size: int, folder: Path) -> tuple[dict, list[int]]:
    from outreach.db import migrate
    from outreach.db.models import OutreachTask
    from outreach.db.session import make_engine, session_scope
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs

    url = f"sqlite:///{folder / f'bench-{size}.db'}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    today = dt.date.today()
    t0 = time.perf_counter()
    res = seed_ledger(eng, members=size, seed=5, today=today)
    plan_jobs.plan_campaign(eng, "survey", f"{today:%Y-%m}", today=today)
    plan_jobs.plan_campaign(eng, "phone_visit", f"{today:%Y-%m}", today=today)
    print(f"  ledger of {size:,} members seeded and planned in {time.perf_counter() - t0:.1f} s",
          flush=True)
    codes = {vid: code for vid, _, role, _, code in res.codes if role == "volunteer"}
    with session_scope(eng, write=False) as s:
        vid, n = s.execute(select(OutreachTask.volunteer_id, func.count())
                           .where(OutreachTask.status == "assigned",
                                  OutreachTask.volunteer_id.in_(list(codes)))
                           .group_by(OutreachTask.volunteer_id)
                           .order_by(func.count().desc()).limit(1)).one()
        ids = list(s.scalars(select(OutreachTask.id).where(OutreachTask.volunteer_id == vid,
                                                           OutreachTask.status == "assigned")))
        total = s.scalar(select(func.count()).select_from(OutreachTask))
    print(f"  {total:,} tasks; volunteer {vid} holds {n}", flush=True)
    eng.dispose()
    env = {**os.environ, "OUTREACH_DATABASE_URL": url, "OUTREACH_TOKEN": codes[vid],
           "OUTREACH_HOME": str(folder)}
    return env, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            env, ids = _world(size, Path(tmp))
            if len(ids) < args.repeat:
                raise SystemExit(f"need {args.repeat} tasks for one volunteer, have {len(ids)}")
            base, tasks_, record = [], [], []
            for i in range(args.repeat):  # interleaved, so drift hits all three alike
                base.append(time_command([sys.executable, "-c", "import sqlalchemy.orm"], env))
                tasks_.append(time_command([str(BIN / "outreach"), "tasks"], env))
                record.append(time_command([str(BIN / "outreach"), "task", "record", str(ids[i]),
                                     "no_answer", "--note", "bench"], env))
            b = statistics.median(base)
            for name, xs in (("outreach tasks", tasks_), ("outreach task record", record)):
                m = statistics.median(xs)
                rows.append((size, name, m, b, m / b))
            rows.append((size, "baseline import sqlalchemy.orm", b, b, 1.0))
    print(f"\n{'members':>10}  {'command':32} {'median s':>9} {'baseline s':>10} {'ratio':>6}")
    for size, name, m, b, r in rows:
        print(f"{size:>10,}  {name:32} {m:9.3f} {b:10.3f} {r:6.2f}")
    print("\ntarget: ratio <= 1.50 (issue 4); flat across sizes")


if __name__ == "__main__":
    main()
