"""Benchmark: the ledger as Excel against the ledger as CSV, import and export.

    .venv/bin/python -m bench.bench_xlsx [--members N] [--repeat K] [--database-url URL]
        [--lang en|zh_CN]

Makes up a ledger file of ``--members`` rows (Chinese names and branches, phones with
leading zeros, addresses, one member in eight away, one in ten homebound), then times, as
the CLI does them and each in a child process of its own (`bench.common.run_child`):

* ``import csv``   `tasks.ledger.book.read_ledger` of the CSV file, then `import_ledger` and the
                   commit, into an empty ledger (a fresh copy of a migrated database with
                   one coordinator) — `outreach members import ledger.csv`;
* ``import xlsx``  the same from the .xlsx export of the same ledger —
                   `outreach members import ledger.xlsx`;
* ``export csv``   `export_ledger` of the full ledger into memory, then the file (0600) —
                   `outreach members export ledger.csv`;
* ``export xlsx``  `export_ledger_xlsx` likewise — `outreach members export ledger.xlsx`;
* with ``--read``, ``read csv`` / ``read xlsx``: `read_ledger` alone (parsing and checking,
  no database), to show what the file format itself costs.

CSV and Excel runs alternate, so that a busy machine slows both alike; each figure is the
median of ``--repeat`` runs and each Excel figure is printed as a ratio to the CSV figure
of the same run. Target (issue 14): at 1,000,000 rows, import and export each ≤ 3x CSV.

Default database: SQLite files under a temporary folder. For PostgreSQL, a database of
your own (``--database-url postgresql+psycopg://postgres@127.0.0.1:5432/outreach_xlsx_bench``;
its schema is dropped and recreated before each import).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import rss_mb, run_child

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "建国秀英桂兰志强玉珍淑芬德明春梅国庆丽华振华凤英海燕文斌"
STREETS = ["人民路", "解放路", "建设路", "和平街", "新华路", "中山路", "胜利街", "文化路"]


def make_ledger(path: Path, members: int, lang: str) -> None:
    """A ledger CSV of ``members`` made-up rows, headers and words in ``lang``."""
    from outreach.tasks.ledger.book import HEADERS, WORDS

    words = WORDS[lang]
    with open(path, "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(HEADERS[lang])
        for i in range(members):
            name = SURNAMES[i % 20] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 13) % len(GIVEN)]
            born = dt.date(1930 + i % 60, 1 + i % 12, 1 + i % 28)
            away = i % 8 == 0
            street = STREETS[i % 8]
            w.writerow([
                f"M{i:07d}", name, born.isoformat(), f"0{(i * 7919) % 10**10:010d}",
                f"东城街道第{i % 200:03d}社区", words["away" if away else "local"],
                f"{street}{i % 997}号{i % 30}栋", f"上海市{street}{i % 31}号" if away else "",
                words[i % 10 == 0], SURNAMES[(i + 3) % 20] + "女士" if i % 3 else "",
                f"1{(i * 104729) % 10**10:010d}" if i % 3 else ""])


# --- the steps (each run as a child: python -m bench.bench_xlsx --child STEP ...) ----------


def _engine(url: str):
    from outreach.db.session import make_engine

    return make_engine(url)


def _coordinator(eng):
    """The template's coordinator, as an actor (a fresh code for this process)."""
    from sqlalchemy.orm import Session

    from outreach.db.models import Role, Volunteer
    from outreach.tasks.access.permissions import authenticate, format_code, new_credentials

    with Session(eng) as s:
        vol = s.query(Volunteer).filter(Volunteer.role == Role.COORDINATOR).first()
        secret, vol.code_salt, vol.code_hash = new_credentials()
        s.commit()
        return authenticate(s, format_code(vol.id, secret))


def child(step: str, file: str, url: str) -> dict:
    import io

    from outreach.cli.common import write_private
    from outreach.db.session import session_scope
    from outreach.tasks.ledger import book as ledger

    eng = _engine(url) if step != "read" else None
    who = _coordinator(eng) if eng is not None else None  # not timed: the access code
    t0 = time.perf_counter()
    if step == "read":
        n = len(ledger.read_ledger(file))
    elif step == "import":
        rows = ledger.read_ledger(file)
        with session_scope(eng) as s:
            n = ledger.import_ledger(s, rows, actor=who, source=Path(file).name).created
    elif step == "export":
        excel = file.endswith(".xlsx")
        with session_scope(eng, write=False) as s:
            buf = io.BytesIO() if excel else io.StringIO()
            export = ledger.export_ledger_xlsx if excel else ledger.export_ledger
            n = export(s, buf, actor=who, lang=os.environ.get("BENCH_LANG", "en"))
        write_private(file, buf.getvalue())
    else:
        raise SystemExit(f"unknown step {step}")
    return {"seconds": time.perf_counter() - t0, "rows": n, "rss_mb": rss_mb()}


# --- the parent ---------------------------------------------------------------------------


def _template(folder: Path, url: str | None) -> str:
    """A migrated, empty ledger with one coordinator; returns its URL."""
    from sqlalchemy.orm import Session

    from outreach.db import migrate
    from outreach.tasks.ledger.people import add_volunteer

    url = url or f"sqlite:///{folder / 'template.db'}"
    eng = _engine(url)
    if eng.dialect.name == "postgresql":
        from sqlalchemy import text

        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(eng)
    with Session(eng) as s:
        add_volunteer(s, name="Bench Coordinator", branch="东城街道", coordinator=True,
                      actor=None)
        s.commit()
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return url


def _fresh(template: str, folder: Path, name: str) -> str:
    """An empty ledger to import into: a copy of the SQLite template (PostgreSQL: the
    template database itself, emptied of members)."""
    if template.startswith("sqlite"):
        dst = folder / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(dst) + suffix).unlink(missing_ok=True)
        shutil.copy(template.split("///", 1)[1], dst)
        return f"sqlite:///{dst}"
    from sqlalchemy import text

    eng = _engine(template)
    with eng.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("TRUNCATE movements, member_changes, member_status_changes, members "
                          "RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM branches WHERE id NOT IN "
                          "(SELECT branch_id FROM volunteers)"))
    eng.dispose()
    return template


def _run(step: str, file: Path, url: str) -> dict:
    return run_child("bench.bench_xlsx", ["--child", step, "--file", str(file), "--url", url])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--lang", default="zh_CN", choices=["en", "zh_CN"])
    ap.add_argument("--read", action="store_true",
                    help="also time read_ledger alone (parsing, no database)")
    ap.add_argument("--child", default=None)
    ap.add_argument("--file", default=None)
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.file, args.url)))
        return 0
    os.environ["BENCH_LANG"] = args.lang
    folder = Path(tempfile.mkdtemp(prefix="bench-xlsx-"))
    try:
        return _measure(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(args, folder: Path) -> int:
    t0 = time.perf_counter()
    source = folder / "ledger.csv"
    make_ledger(source, args.members, args.lang)
    template = _template(folder, args.database_url)
    print(f"ledger file: {args.members:,} rows, {source.stat().st_size / 1e6:.1f} MB "
          f"({args.lang} headers), made in {time.perf_counter() - t0:.1f} s", flush=True)
    # The full ledger once, to export from (and the Excel file to import).
    full = _fresh(template, folder, "full")
    first = _run("import", source, full)
    assert first["rows"] == args.members, first
    xlsx, csv_out = folder / "ledger.xlsx", folder / "export.csv"
    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}

    def note(name: str, out: dict) -> None:
        times.setdefault(name, []).append(out["seconds"])
        rss[name] = max(rss.get(name, 0.0), out["rss_mb"])
        print(f"  {name:12s} {out['seconds']:7.2f} s  peak {out['rss_mb']:6.0f} MB", flush=True)

    for r in range(args.repeat):
        print(f"run {r + 1} of {args.repeat}", flush=True)
        note("export csv", _run("export", csv_out, full))
        note("export xlsx", _run("export", xlsx, full))
    print(f"files: CSV {csv_out.stat().st_size / 1e6:.1f} MB, "
          f"xlsx {xlsx.stat().st_size / 1e6:.1f} MB", flush=True)
    for r in range(args.repeat):
        print(f"run {r + 1} of {args.repeat}", flush=True)
        if args.read:
            note("read csv", _run("read", csv_out, full))
            note("read xlsx", _run("read", xlsx, full))
        note("import csv", _run("import", csv_out, _fresh(template, folder, "a")))
        note("import xlsx", _run("import", xlsx, _fresh(template, folder, "b")))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.members:,} members, {'PostgreSQL' if args.database_url else 'SQLite'}, "
          f"median of {args.repeat}:")
    print(f"{'step':12s} {'CSV':>9s} {'xlsx':>9s} {'ratio':>7s}  {'peak MB (csv/xlsx)':>18s}")
    ok = True
    for step in ("export", "import", "read")[:3 if args.read else 2]:
        c, x = med[f"{step} csv"], med[f"{step} xlsx"]
        ratio = x / c
        target = "" if step == "read" else ("  ≤ 3x: met" if ratio <= 3 else "  ≤ 3x: MISSED")
        ok &= step == "read" or ratio <= 3
        print(f"{step:12s} {c:8.2f}s {x:8.2f}s {ratio:6.2f}x  "
              f"{rss[f'{step} csv']:8.0f} /{rss[f'{step} xlsx']:6.0f}{target}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
