"""Migrations 0007 (cheaper guards) and 0008 (the scorecard's indexes) down and up again,
with data in the tables: down to 0006 the schema is exactly what 0006 made (every table's
CREATE text with its CHECKs, every trigger, function and index), the data stays and the
0006 guards fire; back up to `db.migrate.HEAD` the schema is exactly the head's again and
the head's guards fire. Whatever revisions come after 0008 go down and up on the way.

Runs on a fresh SQLite file, and on a throw-away PostgreSQL schema when
``OUTREACH_TEST_DATABASE_URL`` is set. (The other migration tests: tests/db/test_migrate.py.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from outreach.db import migrate
# the same fresh database per dialect as the other migration tests
from tests.db.test_migrate import fresh  # noqa: F401

VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"
BEFORE = "0006"


def _revision(prefix: str):
    [path] = VERSIONS.glob(f"{prefix}_*.py")
    spec = importlib.util.spec_from_file_location(f"roundtrip_{prefix}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(eng) -> dict:
    """Everything the schema holds, as the database prints it back."""
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            rows = conn.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")).all()
            return {"objects": [tuple(r) for r in rows]}
        ns = "n.nspname = current_schema()"
        return {
            "indexes": conn.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() ORDER BY 1")).all(),
            "triggers": conn.execute(text(
                "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n "
                f"ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {ns} ORDER BY 1"))
            .all(),
            "functions": conn.execute(text(
                "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n "
                f"ON n.oid = p.pronamespace WHERE {ns} ORDER BY 1")).all(),
            "constraints": conn.execute(text(
                "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n "
                f"ON n.oid = c.relnamespace WHERE {ns} ORDER BY 1, 2")).all(),
        }


def _index_columns(eng, table: str, name: str) -> list[str] | None:
    for ix in inspect(eng).get_indexes(table):
        if ix["name"] == name:
            return list(ix["column_names"])
    return None


def _assert_indexes(eng, *, widened: bool) -> None:
    """0008's indexes: as it leaves them (``widened``) or as 0006 had them."""
    r8 = _revision("0008")
    for table, name, before, after in r8.WIDENED:
        assert _index_columns(eng, table, name) == (after if widened else before), name
    for table, name, cols in r8.NEW:
        assert _index_columns(eng, table, name) == (cols if widened else None), name


def _seed(conn) -> dict:
    """A branch, two volunteers, two members, a run with an open and an assigned task, a
    held meeting with an absent member, a care occasion visited: rows in every machine."""
    f = False
    conn.execute(text("INSERT INTO branches (name, kind) VALUES ('North', 'geographic')"))
    b = conn.execute(text("SELECT id FROM branches WHERE name = 'North'")).scalar_one()
    vol = text("INSERT INTO volunteers (name, branch_id, role, capacity, active, code_salt, "
               "code_hash, failed_logins, created_at) VALUES (:n, :b, :r, 5, :t, 's', 'h', 0, "
               "CURRENT_TIMESTAMP)")
    conn.execute(vol, {"n": "Ann", "b": b, "r": "coordinator", "t": True})
    conn.execute(vol, {"n": "Li", "b": b, "r": "volunteer", "t": True})
    ann, li = (conn.execute(text("SELECT id FROM volunteers WHERE name = :n"), {"n": n})
               .scalar_one() for n in ("Ann", "Li"))
    mem = text("INSERT INTO members (ledger_no, name, residence, homebound, branch_id, status, "
               "status_by, failed_contacts, version, created_at) VALUES (:l, :n, 'local', :f, "
               ":b, 'active', :by, 0, 1, CURRENT_TIMESTAMP)")
    conn.execute(mem, {"l": "L1", "n": "Mia", "f": f, "b": b, "by": ann})
    conn.execute(mem, {"l": "L2", "n": "Bo", "f": f, "b": b, "by": ann})
    m1, m2 = (conn.execute(text("SELECT id FROM members WHERE ledger_no = :l"), {"l": n})
              .scalar_one() for n in ("L1", "L2"))
    conn.execute(text("INSERT INTO campaigns (name, kind, window_days, cadence_days, "
                      "max_attempts, due_days, retry_days) VALUES ('calls', 'phone_visit', 30, "
                      "30, 3, 14, 2)"))
    c = conn.execute(text("SELECT id FROM campaigns")).scalar_one()
    conn.execute(text("INSERT INTO campaign_runs (campaign_id, period, started_at) "
                      "VALUES (:c, '2026-11', CURRENT_TIMESTAMP)"), {"c": c})
    run = conn.execute(text("SELECT id FROM campaign_runs")).scalar_one()
    task = text("INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, "
                "attempts, max_attempts, due_on, closes_on, pending_confirmation, version, "
                "created_at) VALUES (:r, :m, 'phone_visit', :s, :v, 0, 3, '2026-11-15', "
                "'2026-11-29', :f, 1, CURRENT_TIMESTAMP)")
    conn.execute(task, {"r": run, "m": m1, "s": "open", "v": None, "f": f})
    conn.execute(task, {"r": run, "m": m2, "s": "assigned", "v": li, "f": f})
    t1, t2 = (conn.execute(text("SELECT id FROM outreach_tasks WHERE member_id = :m"),
                           {"m": m}).scalar_one() for m in (m1, m2))
    conn.execute(text(
        "INSERT INTO meetings (branch_id, kind, status, planned_on, held_on, remote, status_by, "
        "status_reason, version, created_at) VALUES (:b, 'assembly', 'held', '2026-10-01', "
        "'2026-10-01', 'phone', :a, 'recorded', 1, CURRENT_TIMESTAMP)"), {"a": ann, "b": b})
    meeting = conn.execute(text("SELECT max(id) FROM meetings")).scalar_one()
    conn.execute(text("INSERT INTO attendance (meeting_id, member_id, status, version, "
                      "created_at) VALUES (:g, :m, 'absent', 1, CURRENT_TIMESTAMP)"),
                 {"g": meeting, "m": m1})
    att = conn.execute(text("SELECT max(id) FROM attendance")).scalar_one()
    conn.execute(text(
        "INSERT INTO care_occasions (member_id, kind, occasion_on, window_from, window_to, "
        "detail, status, status_by, status_reason, version, created_at) VALUES (:m, "
        "'birthday', '2026-06-01', '2026-05-25', '2026-06-08', 'birthday', 'due', :a, "
        "'planned', 1, CURRENT_TIMESTAMP)"), {"m": m2, "a": ann})
    occ = conn.execute(text("SELECT max(id) FROM care_occasions")).scalar_one()
    conn.execute(text("UPDATE care_occasions SET status = 'visited' WHERE id = :o"),
                 {"o": occ})
    return {"ann": ann, "li": li, "m1": m1, "m2": m2, "t1": t1, "t2": t2,
            "meeting": meeting, "att": att, "occ": occ}


#: The data that must survive every step (history included: append-only, never rewritten).
KEPT = {
    "members": "SELECT ledger_no, name, status, residence FROM members",
    "outreach_tasks": "SELECT member_id, status, volunteer_id, kind FROM outreach_tasks",
    "meetings": "SELECT kind, status, remote FROM meetings",
    "attendance": "SELECT member_id, status FROM attendance",
    "care_occasions": "SELECT member_id, kind, status FROM care_occasions",
    "member_status_changes": "SELECT member_id, from_status, to_status FROM "
                             "member_status_changes",
    "task_status_changes": "SELECT task_id, from_status, to_status, volunteer_id "
                           "FROM task_status_changes",
    "meeting_status_changes": "SELECT meeting_id, from_status, to_status "
                              "FROM meeting_status_changes",
    "attendance_status_changes": "SELECT attendance_id, from_status, to_status "
                                 "FROM attendance_status_changes",
    "care_occasion_status_changes": "SELECT care_occasion_id, from_status, to_status "
                                    "FROM care_occasion_status_changes",
}


def _contents(eng) -> dict:
    with eng.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(q)).all())) for t, q in KEPT.items()}


def _refused(eng, sql: str, params: dict, mark: str) -> None:
    """The database refuses ``sql`` with an error that says ``mark`` (rolled back)."""
    with eng.connect() as conn:
        trans = conn.begin()
        try:
            with pytest.raises(IntegrityError) as err:
                conn.execute(text(sql), params)
        finally:
            trans.rollback()
    assert mark in str(err.value).lower(), err.value


def _history_count(conn, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _assert_guarded(eng, ids: dict) -> None:
    """Every machine's guard fires: illegal moves and non-initial inserts refused, the
    enum CHECKs hold, history append-only; a legal move writes its history row (rolled
    back)."""
    _refused(eng, "UPDATE outreach_tasks SET status = 'done' WHERE id = :t", {"t": ids["t1"]},
             "illegal task transition")
    _refused(eng, "UPDATE members SET status = 'unverified' WHERE id = :m", {"m": ids["m1"]},
             "illegal member transition")
    _refused(eng, "UPDATE meetings SET status = 'planned', held_on = NULL WHERE id = :g",
             {"g": ids["meeting"]}, "illegal meeting transition")
    _refused(eng, "UPDATE attendance SET status = 'invited' WHERE id = :a",
             {"a": ids["att"]}, "illegal attendance transition")
    _refused(eng, "UPDATE care_occasions SET status = 'due' WHERE id = :o",
             {"o": ids["occ"]}, "illegal care transition")
    _refused(eng, "INSERT INTO members (ledger_no, name, residence, homebound, branch_id, "
                  "status, failed_contacts, version, created_at) SELECT 'L9', 'x', 'local', "
                  "homebound, branch_id, 'deceased', 0, 1, created_at FROM members "
                  "WHERE id = :m", {"m": ids["m1"]}, "illegal member transition")
    _refused(eng, "DELETE FROM task_status_changes WHERE task_id = :t", {"t": ids["t1"]},
             "append-only")
    _refused(eng, "UPDATE members SET residence = 'mars' WHERE id = :m", {"m": ids["m1"]},
             "check")
    _refused(eng, "UPDATE outreach_tasks SET kind = 'zombie' WHERE id = :t", {"t": ids["t1"]},
             "check")
    if eng.dialect.name == "sqlite":  # a row put back under its old id: history refuses it
        _refused(eng, "INSERT OR REPLACE INTO outreach_tasks SELECT * FROM outreach_tasks "
                      "WHERE id = :t", {"t": ids["t1"]}, "already has history")
    with eng.connect() as conn:
        trans = conn.begin()
        try:
            tasks, members = (_history_count(conn, t) for t in
                              ("task_status_changes", "member_status_changes"))
            conn.execute(text("UPDATE outreach_tasks SET status = 'assigned', volunteer_id = "
                              ":v WHERE id = :t"), {"v": ids["li"], "t": ids["t1"]})
            conn.execute(text("UPDATE members SET status = 'unreachable' WHERE id = :m"),
                         {"m": ids["m2"]})
            assert _history_count(conn, "task_status_changes") == tasks + 1
            assert _history_count(conn, "member_status_changes") == members + 1
            assert conn.execute(text(
                "SELECT from_status, to_status, volunteer_id FROM task_status_changes "
                "WHERE task_id = :t ORDER BY id DESC LIMIT 1"), {"t": ids["t1"]}).one() == (
                "open", "assigned", ids["li"])
        finally:
            trans.rollback()


def _integrity_ok(eng) -> None:
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def test_0007_and_0008_down_to_0006_and_up_again_with_data(fresh):
    assert migrate.upgrade(fresh, BEFORE) == BEFORE
    at_0006 = _schema(fresh)
    _assert_indexes(fresh, widened=False)
    with fresh.begin() as conn:
        ids = _seed(conn)
    data = _contents(fresh)
    _assert_guarded(fresh, ids)

    assert migrate.upgrade(fresh, "0008") == "0008"  # (a later revision may change them)
    _assert_indexes(fresh, widened=True)
    assert migrate.upgrade(fresh) == migrate.HEAD
    at_head = _schema(fresh)
    assert at_head != at_0006
    _integrity_ok(fresh)
    assert _contents(fresh) == data
    _assert_guarded(fresh, ids)

    # down: exactly 0006's schema again, the data kept, 0006's guards firing
    migrate.downgrade(fresh, BEFORE)
    assert migrate.current(fresh) == BEFORE
    _integrity_ok(fresh)
    assert _schema(fresh) == at_0006
    _assert_indexes(fresh, widened=False)
    assert _contents(fresh) == data
    _assert_guarded(fresh, ids)

    # and up again: exactly the head's schema, its guards firing, the data kept
    assert migrate.upgrade(fresh, "0008") == "0008"
    _assert_indexes(fresh, widened=True)
    _assert_guarded(fresh, ids)
    if fresh.dialect.name == "sqlite":  # 0007's OR-chained CHECKs are back, not IN lists
        with fresh.connect() as conn:
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                    "'outreach_tasks'")).scalar_one()
        assert "status = 'open' OR status = 'assigned'" in sql
    assert migrate.upgrade(fresh) == migrate.HEAD
    _integrity_ok(fresh)
    assert _schema(fresh) == at_head
    assert _contents(fresh) == data
    _assert_guarded(fresh, ids)
