"""Migrations: a fresh database upgrades to HEAD with every table, transition row and
guard; downgrade to base removes them; upgrade again works; unready databases refused.
A database at an older revision (0001, with data) upgrades for real and keeps its data and
its guards. The head revision holds exactly what the code expects now: the models (by
Alembic's own comparison), the rows of `db.guards.transition_rows` and the text of
`db.guards.statements` — the migrations are frozen literals, so a change to a machine or a
guard fails here until a new revision installs it. And no migration imports live code.

Runs on a fresh SQLite file, and also on a throw-away PostgreSQL schema when
``OUTREACH_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import ast
import os
import re
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from outreach.db import guards, migrate
from outreach.db.errors import NotReady
from outreach.db.models import Base
from outreach.db.session import make_engine

PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")
DIALECTS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=DIALECTS)
def fresh(request, tmp_path):
    """An engine on an empty database (a new SQLite file or a new PostgreSQL schema)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield eng
        eng.dispose()
        return
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    return ScriptDirectory.from_config(cfg)


def _script_head() -> str:
    return _scripts().get_current_head()


def _tables(eng) -> set[str]:
    return set(inspect(eng).get_table_names())


def _guard_names(dialect: str) -> set[str]:
    return {m.group(1) for s in guards.statements(dialect)
            for m in [re.search(r"CREATE TRIGGER (\w+)", s)] if m}


def _triggers(eng) -> set[str]:
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            # pg_trigger, not information_schema: the latter omits TRUNCATE triggers.
            rows = conn.execute(text(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"))
        return {r[0] for r in rows}


def test_head_is_the_scripts_head():
    assert migrate.HEAD == _script_head()


def test_upgrade_creates_everything(fresh):
    assert migrate.upgrade(fresh) == migrate.HEAD
    assert migrate.current(fresh) == migrate.HEAD
    migrate.require_current(fresh)
    assert _tables(fresh) == set(Base.metadata.tables) | {"alembic_version"}
    assert _triggers(fresh) == _guard_names(fresh.dialect.name)
    # rows, guards' text and the models in detail: test_head_revision_equals_what_the_code_expects


def _guarded(eng) -> bool:
    """True when the database refuses a member created deceased."""
    with eng.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("INSERT INTO branches (name, kind) VALUES ('b', 'geographic')"))
            bid = conn.execute(text("SELECT max(id) FROM branches")).scalar_one()
            conn.execute(text(
                "INSERT INTO members (ledger_no, name, residence, homebound, branch_id, status, "
                "failed_contacts, version, created_at) VALUES ('L1', 'x', 'local', :f, :b, "
                "'deceased', 0, 1, CURRENT_TIMESTAMP)"), {"f": False, "b": bid})
        except IntegrityError:
            return True
        finally:
            trans.rollback()
    return False


def test_downgrade_to_base_and_upgrade_again(fresh):
    migrate.upgrade(fresh)
    assert _guarded(fresh)
    migrate.downgrade(fresh, "base")
    assert migrate.current(fresh) is None
    assert _tables(fresh) <= {"alembic_version"}
    assert _triggers(fresh) == set()
    if fresh.dialect.name == "postgresql":
        with fresh.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM information_schema.routines "
                "WHERE routine_schema = current_schema()")).scalar_one() == 0
    with pytest.raises(NotReady):
        migrate.require_current(fresh)
    assert migrate.upgrade(fresh) == migrate.HEAD
    assert _triggers(fresh) == _guard_names(fresh.dialect.name)
    assert _guarded(fresh)


def test_upgrade_is_idempotent(fresh):
    assert migrate.upgrade(fresh) == migrate.HEAD
    assert migrate.upgrade(fresh) == migrate.HEAD


def test_require_current_refuses_an_empty_database(fresh):
    assert migrate.current(fresh) is None
    with pytest.raises(NotReady, match="not set up"):
        migrate.require_current(fresh)


def test_require_current_refuses_another_revision(fresh):
    migrate.upgrade(fresh)
    with fresh.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with pytest.raises(NotReady, match="at revision older"):
        migrate.require_current(fresh)


# --- migrations are frozen: no live code ----------------------------------------------------

VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("[0-9]*.py")), ids=lambda p: p.name)
def test_a_migration_imports_no_live_code(path):
    """A migration's rows and DDL are literals: importing `db.guards`, `db.machines` or
    `db.models` would make an old revision install what the code says today."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"alembic", "sqlalchemy", "__future__"}, imported


def test_every_revision_is_a_script():
    chain = [s.revision for s in _scripts().walk_revisions()]
    assert tuple(reversed(chain)) == migrate.REVISIONS


# --- the head revision equals what the code expects now ---------------------------------------

MACHINES = ("member", "task", "meeting", "attendance", "care")


def _transition_rows(conn) -> dict[str, list[tuple]]:
    """Every machine's transition table as the database holds it (member's with its flag)."""
    out = {}
    for m in MACHINES:
        cols = "from_status, to_status" + (", coordinator_only" if m == "member" else "")
        rows = conn.execute(text(f"SELECT {cols} FROM {m}_transition")).all()
        out[m] = sorted((r[0], r[1], *(bool(c) for c in r[2:])) for r in rows)
    return out


def _transition_rows_in_code() -> dict[str, list[tuple]]:
    return {m: sorted(tuple(r.values()) for r in guards.transition_rows(m)) for m in MACHINES}


_PG_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) (BEFORE|AFTER) (.+?) ON (?:\w+\.)?(\w+) "
    r"(REFERENCING .+? )?FOR EACH (ROW|STATEMENT) EXECUTE FUNCTION (\w+)\(\)$")
_PG_FUNCTION = re.compile(
    r"CREATE FUNCTION (\w+)\(\) RETURNS (\w+) LANGUAGE (\w+) AS \$\$(.*)\$\$$", re.S)


def _pg_trigger_key(ddl: str) -> tuple:
    """A trigger's meaning from its DDL: PostgreSQL prints it back with the table qualified
    by schema and the events in its own order (DELETE OR UPDATE), nothing else changes."""
    m = _PG_TRIGGER.match(" ".join(ddl.split()))
    assert m, ddl
    name, timing, events, table, referencing, level, function = m.groups()
    return (name, timing, tuple(sorted(events.split(" OR "))), table,
            (referencing or "").strip(), level, function)


def _guards_in_database(conn) -> dict:
    """What the database holds of the guards, in the form `_guards_in_code` gives."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        return {"triggers": dict(rows.all())}
    triggers = conn.execute(text(
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema()")).scalars()
    functions = conn.execute(text(
        "SELECT p.proname, pg_get_function_result(p.oid), l.lanname, p.prosrc FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
        "WHERE n.nspname = current_schema()")).all()
    return {"triggers": {k[0]: k for k in map(_pg_trigger_key, triggers)},
            "functions": {f[0]: tuple(f) for f in functions}}


def _guards_in_code(dialect: str, part: str | None = None) -> dict:
    """`db.guards.statements` (all, or one part's) as the database would hold it: SQLite
    keeps a trigger's CREATE text verbatim; PostgreSQL a function's body (between ``$$``)."""
    stmts = guards.statements(dialect, part)
    if dialect == "sqlite":
        return {"triggers": {re.match(r"CREATE TRIGGER (\w+)", s).group(1): s for s in stmts}}
    triggers = [_pg_trigger_key(s) for s in stmts if s.startswith("CREATE TRIGGER")]
    functions = [_PG_FUNCTION.match(s).groups() for s in stmts
                 if s.startswith("CREATE FUNCTION")]
    assert len(triggers) + len(functions) == len(stmts)
    return {"triggers": {k[0]: k for k in triggers}, "functions": {f[0]: f for f in functions}}


def _on_this_database(dialect: str):
    """Alembic's ``include_object``: what the models declare for another database only
    (``ddl_if(dialect=...)``: PostgreSQL's ``ix_members_scorecard``) is not compared —
    Alembic would expect it everywhere."""
    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        only = getattr(obj, "_ddl_if", None)
        return only is None or only.dialect in (None, dialect)
    return include


def _assert_head_matches_the_code(eng) -> None:
    with eng.connect() as conn:
        # Alembic's own comparison of the schema with the models. Nothing else is ignored:
        # the enums are VARCHAR + CHECK (native_enum=False), whose CHECKs Alembic does not
        # compare, and server defaults are not compared unless asked.
        context = MigrationContext.configure(
            conn, opts={"include_object": _on_this_database(conn.dialect.name)})
        assert compare_metadata(context, Base.metadata) == []
        rows = _transition_rows(conn)
        # what 0001 and 0004 installed, together: `guards.statements` gives every part
        assert _guards_in_database(conn) == _guards_in_code(eng.dialect.name)
    assert rows == _transition_rows_in_code()


def test_head_revision_equals_what_the_code_expects(fresh):
    migrate.upgrade(fresh)
    _assert_head_matches_the_code(fresh)


def test_the_comparison_sees_a_changed_guard(fresh):
    """Control: the comparison is not blind. A guard whose text differs by one word (as a
    database made by an older revision would hold it) is told apart from the code's."""
    migrate.upgrade(fresh)
    with fresh.begin() as conn:
        if fresh.dialect.name == "sqlite":
            [update] = [s for s in guards.statements("sqlite")
                        if s.startswith("CREATE TRIGGER members_update ")]
            conn.execute(text("DROP TRIGGER members_update"))
            conn.execute(text(update.replace(
                "'illegal member transition'", "'illegal member move'")))
        else:
            conn.execute(text("CREATE OR REPLACE FUNCTION outreach_append_only() RETURNS "
                              "trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"))
        conn.execute(text("DELETE FROM task_transition WHERE from_status = 'open' "
                          "AND to_status = 'expired'"))
    with fresh.connect() as conn:
        held = _guards_in_database(conn)
        rows = _transition_rows(conn)
    code = _guards_in_code(fresh.dialect.name)
    assert held != code
    assert held.keys() == code.keys()
    assert {k: v.keys() for k, v in held.items()} == {k: v.keys() for k, v in code.items()}
    assert ("open", "expired") not in rows["task"]
    with pytest.raises(AssertionError):
        _assert_head_matches_the_code(fresh)


# --- upgrade from an older revision, for real ------------------------------------------------

def _seed_at_0001(conn) -> dict:
    """A few rows written by raw SQL as a 0001 database holds them."""
    t, f = True, False
    conn.execute(text("INSERT INTO branches (name, kind) VALUES ('North', 'geographic')"))
    b = conn.execute(text("SELECT id FROM branches WHERE name = 'North'")).scalar_one()
    vol_sql = text(
        "INSERT INTO volunteers (name, branch_id, role, capacity, active, code_salt, code_hash, "
        "failed_logins, created_at) VALUES (:n, :b, :r, 5, :t, 's', 'h', 0, :at)")
    conn.execute(vol_sql, {"n": "Ann", "b": b, "r": "coordinator", "t": t,
                           "at": "2026-01-02 03:04:05"})
    conn.execute(vol_sql, {"n": "Li", "b": b, "r": "volunteer", "t": t,
                           "at": "2026-02-03 04:05:06"})
    ann, li = (conn.execute(text("SELECT id FROM volunteers WHERE name = :n"), {"n": n})
               .scalar_one() for n in ("Ann", "Li"))
    mem_sql = text(
        "INSERT INTO members (ledger_no, name, residence, homebound, branch_id, status, "
        "status_by, failed_contacts, version, created_at) VALUES (:l, :n, 'local', :f, :b, "
        "'active', :by, 0, 1, CURRENT_TIMESTAMP)")
    conn.execute(mem_sql, {"l": "L1", "n": "Mia", "f": f, "b": b, "by": ann})
    conn.execute(mem_sql, {"l": "L2", "n": "Bo", "f": f, "b": b, "by": ann})
    m1, m2 = (conn.execute(text("SELECT id FROM members WHERE ledger_no = :l"), {"l": n})
              .scalar_one() for n in ("L1", "L2"))
    conn.execute(text("INSERT INTO campaigns (name, kind, window_days, cadence_days, "
                      "max_attempts, due_days, retry_days) VALUES ('calls', 'phone_visit', 30, "
                      "30, 3, 14, 2)"))
    c = conn.execute(text("SELECT id FROM campaigns")).scalar_one()
    conn.execute(text("INSERT INTO campaign_runs (campaign_id, period, started_at) "
                      "VALUES (:c, '2026-11', CURRENT_TIMESTAMP)"), {"c": c})
    run = conn.execute(text("SELECT id FROM campaign_runs")).scalar_one()
    task_sql = text(
        "INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, attempts, "
        "max_attempts, due_on, closes_on, pending_confirmation, version, created_at) VALUES "
        "(:r, :m, 'phone_visit', :s, :v, 0, 3, '2026-11-15', '2026-11-29', :f, 1, "
        "CURRENT_TIMESTAMP)")
    conn.execute(task_sql, {"r": run, "m": m1, "s": "open", "v": None, "f": f})
    conn.execute(task_sql, {"r": run, "m": m2, "s": "assigned", "v": li, "f": f})
    t1, t2 = (conn.execute(text("SELECT id FROM outreach_tasks WHERE member_id = :m"),
                           {"m": m}).scalar_one() for m in (m1, m2))
    return {"ann": ann, "li": li, "m1": m1, "m2": m2, "t1": t1, "t2": t2}


_KEPT = {
    "branches": "SELECT name, kind FROM branches",
    "volunteers": "SELECT name, role, capacity, created_at FROM volunteers",
    "members": "SELECT ledger_no, name, status, status_by FROM members",
    "campaigns": "SELECT name, kind FROM campaigns",
    "campaign_runs": "SELECT campaign_id, period FROM campaign_runs",
    "outreach_tasks": "SELECT member_id, status, volunteer_id, due_on FROM outreach_tasks",
    "member_status_changes": "SELECT member_id, from_status, to_status FROM member_status_changes",
    "task_status_changes": "SELECT task_id, from_status, to_status, volunteer_id "
                           "FROM task_status_changes",
}


def _contents(eng) -> dict:
    with eng.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(q)).all())) for t, q in _KEPT.items()}


def _refused(eng, sql: str, params: dict, mark: str | None = "illegal") -> None:
    """The database refuses ``sql`` (rolled back either way)."""
    with eng.connect() as conn:
        trans = conn.begin()
        try:
            with pytest.raises(IntegrityError) as err:
                conn.execute(text(sql), params)
        finally:
            trans.rollback()
    if mark:
        assert mark in str(err.value).lower()


def _assert_guarded(eng, ids: dict, open_task: str) -> None:
    """The guards of 0001 still work: illegal moves and inserts refused, history append-only."""
    _refused(eng, "UPDATE outreach_tasks SET status = 'done' WHERE id = :t",
             {"t": ids[open_task]})
    _refused(eng, "UPDATE members SET status = 'unverified' WHERE id = :m", {"m": ids["m1"]})
    _refused(eng, "INSERT INTO members (ledger_no, name, residence, homebound, branch_id, "
                  "status, failed_contacts, version, created_at) SELECT 'L9', 'x', 'local', "
                  "homebound, branch_id, 'deceased', 0, 1, created_at FROM members "
                  "WHERE id = :m", {"m": ids["m1"]})
    _refused(eng, "DELETE FROM task_status_changes WHERE task_id = :t", {"t": ids["t1"]},
             mark="append-only")


def _triggers_by_table(eng) -> dict[str, set[str]]:
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master "
                                     "WHERE type = 'trigger'"))
        else:
            rows = conn.execute(text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"))
        out: dict[str, set[str]] = {}
        for table, name in rows:
            out.setdefault(table, set()).add(name)
        return out


def _as_at_head(eng, triggers: dict[str, set[str]]) -> dict[str, set[str]]:
    """Trigger names by table as the head holds them: unchanged, except that on SQLite
    0007 replaced each machine's five row triggers by two (``<table>_insert``/``_update``)."""
    if eng.dialect.name != "sqlite":
        return triggers
    replaced = {re.match(r"CREATE TRIGGER (\w+)", s).group(1)
                for s in guards.replaced_statements("sqlite")[0]}
    out = {}
    for table, names in triggers.items():
        out[table] = names - replaced
        if names & replaced:
            out[table] |= {f"{table}_insert", f"{table}_update"}
    return out


def _columns(eng, table: str) -> set[str]:
    return {c["name"] for c in inspect(eng).get_columns(table)}


def test_upgrade_from_0001_keeps_data_and_guards(fresh):
    assert migrate.upgrade(fresh, "0001") == "0001"
    with fresh.begin() as conn:
        ids = _seed_at_0001(conn)
    at_0001 = _contents(fresh)
    triggers_0001 = _triggers_by_table(fresh)
    assert set(triggers_0001) >= {"members", "outreach_tasks"}
    assert "released_by" not in _columns(fresh, "outreach_tasks")

    assert migrate.upgrade(fresh) == migrate.HEAD
    assert _contents(fresh) == at_0001
    after = _triggers_by_table(fresh)
    assert {t: after[t] for t in triggers_0001} == _as_at_head(fresh, triggers_0001)  # 0001's kept as they were
    _assert_head_matches_the_code(fresh)
    with fresh.connect() as conn:
        since = dict(conn.execute(text(
            "SELECT name, coordinator_since = created_at FROM volunteers "
            "WHERE coordinator_since IS NOT NULL")).all())
        assert conn.execute(text("SELECT count(*) FROM login_failures")).scalar_one() == 0
    assert {k: bool(v) for k, v in since.items()} == {"Ann": True}  # backfilled: coordinators
    _assert_guarded(fresh, ids, open_task="t1")

    # the new columns work, and the new FK holds
    with fresh.begin() as conn:
        conn.execute(text("UPDATE outreach_tasks SET status = 'open', volunteer_id = NULL, "
                          "released_by = :v, status_reason = 'released' WHERE id = :t"),
                     {"v": ids["li"], "t": ids["t2"]})
        conn.execute(text("UPDATE outreach_tasks SET status = 'assigned', volunteer_id = :v, "
                          "status_by = :a WHERE id = :t"),
                     {"v": ids["ann"], "a": ids["ann"], "t": ids["t1"]})
        conn.execute(text("INSERT INTO login_failures (address, failures, last_at) "
                          "VALUES ('10.0.0.1', 2, CURRENT_TIMESTAMP)"))
        history = conn.execute(text(
            "SELECT task_id, from_status, to_status, volunteer_id, reason FROM "
            "task_status_changes ORDER BY id")).all()
    assert history[-2:] == [(ids["t2"], "assigned", "open", None, "released"),
                            (ids["t1"], "open", "assigned", ids["ann"], None)]
    _refused(fresh, "UPDATE outreach_tasks SET released_by = 999999 WHERE id = :t",
             {"t": ids["t1"]}, mark="foreign key")

    # down to 0001: the data stays, the new parts go, every guard is still there and works
    migrate.downgrade(fresh, "0001")
    assert migrate.current(fresh) == "0001"
    assert "released_by" not in _columns(fresh, "outreach_tasks")
    assert "coordinator_since" not in _columns(fresh, "volunteers")
    assert "login_failures" not in _tables(fresh)
    assert _triggers_by_table(fresh) == triggers_0001
    with fresh.connect() as conn:
        assert _guards_in_database(conn) == _guards_in_code(fresh.dialect.name, "0001")
        assert conn.execute(text("SELECT status FROM outreach_tasks WHERE id = :t"),
                            {"t": ids["t2"]}).scalar_one() == "open"
    _assert_guarded(fresh, ids, open_task="t2")

    # and up again
    assert migrate.upgrade(fresh) == migrate.HEAD
    _assert_head_matches_the_code(fresh)
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT name FROM volunteers WHERE coordinator_since "
                                 "IS NOT NULL")).scalars().all() == ["Ann"]
    _assert_guarded(fresh, ids, open_task="t2")


# --- the guards come in parts, each frozen in its revision -----------------------------------

def _revision_module(prefix: str):
    import importlib.util

    [path] = VERSIONS.glob(f"{prefix}_*.py")
    spec = importlib.util.spec_from_file_location(f"revision_{prefix}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trigger_name(stmt: str) -> tuple[str, str]:
    """(TRIGGER or FUNCTION, name) that a CREATE or a DROP statement is about."""
    m = re.match(r"(?:CREATE|DROP) (TRIGGER|FUNCTION) (?:IF EXISTS )?(\w+)", stmt)
    assert m, stmt
    return m.group(1), m.group(2)


@pytest.mark.parametrize("part", ["0001", "0004", "0006", "0007", "0009", "0010", "0012"])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_each_part_of_the_guards_is_its_revisions_text(part, dialect):
    """Byte for byte: the code's member and task guards are still what 0001 froze (a
    refactoring of `db.guards` that changed one character fails here), the meeting and
    attendance guards what 0004 froze, SQLite's two row triggers a machine what 0007 froze
    (and the five a machine it replaced, which its downgrade brings back), the contact
    summary's triggers what 0009 froze, PostgreSQL's update functions what 0010 froze (and
    those it replaced, which its downgrade brings back); together, minus what 0007 and 0010
    replaced, they are all of `statements`."""
    rev = _revision_module(part)
    key = dialect.upper()
    assert guards.statements(dialect, part) == getattr(rev, f"{key}_GUARDS")
    assert guards.drop_statements(dialect, part) == getattr(rev, f"{key}_DROPS")
    r7 = _revision_module("0007")
    replaced, replaced_drops = guards.replaced_statements(dialect)
    assert replaced == getattr(r7, f"{key}_REPLACED", [])
    assert replaced_drops == getattr(r7, f"{key}_REPLACED_DROPS", [])
    r10 = _revision_module("0010")
    assert guards.planned_statements(dialect, planned=False) == \
        getattr(r10, f"{key}_REPLACED", [])
    # 0010 CREATE OR REPLACEs functions that 0001, 0004 and 0006 created: the head holds
    # them as fresh CREATEs of the new text
    planned = [s.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1)
               for s in guards.statements(dialect, "0010")]
    gone = {_trigger_name(s) for s in replaced + planned}
    kept = [s for p in ("0001", "0004", "0006", "0012") for s in guards.statements(dialect, p)
            if _trigger_name(s) not in gone]
    head = guards.statements(dialect)
    assert sorted(head) == sorted(kept + guards.statements(dialect, "0007")
                                  + guards.statements(dialect, "0009") + planned)
    assert len(set(map(_trigger_name, head))) == len(head)
    # what removes the head's guards removes every one of them, and only those
    assert {_trigger_name(s) for s in guards.drop_statements(dialect)} == \
        set(map(_trigger_name, head))


def test_0007_rewrites_every_enum_check_and_means_the_same():
    """SQLite's enum CHECKs at 0006 are exactly 0007's list, and each rewritten CHECK (OR
    chain) accepts and refuses what the IN list did: every value, NULL, an unknown one."""
    import sqlite3

    r7 = _revision_module("0007")
    conn = sqlite3.connect(":memory:")
    for table, name, col, values in r7.CHECKS:
        for text_ in (r7.in_list(col, values), r7.or_chain(col, values)):
            assert text_.count("CHECK (") == 1
        conn.execute(f"CREATE TABLE a_{name} ({col} VARCHAR(24) {r7.in_list(col, values)})")
        conn.execute(f"CREATE TABLE b_{name} ({col} VARCHAR(24) {r7.or_chain(col, values)})")
        for value in (*values, None, "zombie", values[0].upper(), 1, ""):
            outcome = []
            for t in ("a", "b"):
                try:
                    conn.execute(f"INSERT INTO {t}_{name} VALUES (?)", (value,))
                    outcome.append(True)
                except sqlite3.IntegrityError:
                    outcome.append(False)
            assert outcome[0] == outcome[1], (name, value)
            assert outcome[0] == (value is None or value in values), (name, value)


def test_the_revisions_transition_rows_are_the_codes():
    r1, r4 = _revision_module("0001"), _revision_module("0004")
    r6 = _revision_module("0006")
    code = _transition_rows_in_code()
    assert sorted(r6.CARE_TRANSITION_ROWS) == code["care"]
    assert sorted(r1.MEMBER_TRANSITION_ROWS) == code["member"]
    assert sorted(r1.TASK_TRANSITION_ROWS) == code["task"]
    assert sorted(r4.MEETING_TRANSITION_ROWS) == code["meeting"]
    assert sorted(r4.ATTENDANCE_TRANSITION_ROWS) == code["attendance"]


# --- upgrade from 0003 (with data) to head: meetings and attendance ---------------------------

_NEW_TABLES = {"meetings", "attendance", "meeting_transition", "attendance_transition",
               "meeting_status_changes", "attendance_status_changes", "branch_roles"}


def test_upgrade_from_0003_with_data_to_head_and_back(fresh):
    assert migrate.upgrade(fresh, "0003") == "0003"
    with fresh.begin() as conn:
        ids = _seed_at_0001(conn)
        conn.execute(text("INSERT INTO login_failures (address, failures, last_at) "
                          "VALUES ('10.0.0.2', 1, CURRENT_TIMESTAMP)"))
        # attempts recorded before 0009: its backfill gives Bo (t2) his two newest
        # quarters with a successful contact (a failed attempt is no contact)
        for outcome, day in (("reached", "2026-02-10"), ("no_answer", "2026-12-20"),
                             ("reached", "2026-11-20"), ("reached", "2026-05-01"),
                             ("reached", "2026-10-02")):
            conn.execute(text(
                "INSERT INTO attempts (task_id, volunteer_id, recorded_by, outcome, "
                "recorded_on, recorded_at) VALUES (:t, :v, :v, :o, :d, CURRENT_TIMESTAMP)"),
                {"t": ids["t2"], "v": ids["li"], "o": outcome, "d": day})
    at_0003 = _contents(fresh)
    triggers_0003 = _triggers_by_table(fresh)
    assert not _NEW_TABLES & _tables(fresh)

    assert migrate.upgrade(fresh) == migrate.HEAD
    assert _contents(fresh) == at_0003
    after = _triggers_by_table(fresh)
    assert {t: after[t] for t in triggers_0003} == _as_at_head(fresh, triggers_0003)
    assert set(after) - set(triggers_0003) == {
        "meetings", "attendance", "meeting_status_changes", "attendance_status_changes",
        "care_occasions", "care_occasion_status_changes", "movements", "attempts",
        "access_events", "access_event_members"}
    with fresh.connect() as conn:
        assert conn.execute(text(
            "SELECT id, contact_quarter, contact_quarter_before, delivery_quarter, "
            "delivery_quarter_before FROM members ORDER BY id")).all() == [
            (ids["m1"], None, None, None, None), (ids["m2"], 2026 * 4 + 3, 2026 * 4 + 1,
                                                  None, None)]
    _assert_head_matches_the_code(fresh)
    _assert_guarded(fresh, ids, open_task="t1")

    # a meeting recorded after the fact, a member's mark and its correction: history written
    with fresh.begin() as conn:
        conn.execute(text(
            "INSERT INTO meetings (branch_id, kind, status, planned_on, held_on, remote, "
            "status_by, status_reason, version, created_at) SELECT branch_id, 'assembly', "
            "'held', '2026-10-01', '2026-10-01', 'phone', :a, 'recorded', 1, CURRENT_TIMESTAMP "
            "FROM members WHERE id = :m"), {"a": ids["ann"], "m": ids["m1"]})
        meeting = conn.execute(text("SELECT max(id) FROM meetings")).scalar_one()
        conn.execute(text(
            "INSERT INTO attendance (meeting_id, member_id, status, version, created_at) "
            "VALUES (:g, :m, 'absent', 1, CURRENT_TIMESTAMP)"), {"g": meeting, "m": ids["m1"]})
        att = conn.execute(text("SELECT max(id) FROM attendance")).scalar_one()
        conn.execute(text("UPDATE attendance SET status = 'excused', status_by = :a, "
                          "status_reason = 'late excuse' WHERE id = :t"),
                     {"a": ids["ann"], "t": att})
        assert conn.execute(text(
            "SELECT from_status, to_status, planned_on, actor_id, reason FROM "
            "meeting_status_changes WHERE meeting_id = :g"), {"g": meeting}).all() == [
            ("new", "held", _date(fresh, "2026-10-01"), ids["ann"], "recorded")]
        assert conn.execute(text(
            "SELECT from_status, to_status, actor_id, reason FROM attendance_status_changes "
            "WHERE attendance_id = :t ORDER BY id"), {"t": att}).all() == [
            ("new", "absent", None, None), ("absent", "excused", ids["ann"], "late excuse")]
    _refused(fresh, "UPDATE meetings SET status = 'planned', held_on = NULL WHERE id = :g",
             {"g": meeting})
    _refused(fresh, "UPDATE attendance SET status = 'invited' WHERE id = :t", {"t": att})
    _refused(fresh, "DELETE FROM attendance_status_changes WHERE attendance_id = :t",
             {"t": att}, mark="append-only")

    # down to 0003: the new tables and their guards go, the older data and guards stay
    migrate.downgrade(fresh, "0003")
    assert migrate.current(fresh) == "0003"
    assert not _NEW_TABLES & _tables(fresh)
    assert _triggers_by_table(fresh) == triggers_0003
    with fresh.connect() as conn:
        assert _guards_in_database(conn) == _guards_in_code(fresh.dialect.name, "0001")
    if fresh.dialect.name == "postgresql":
        with fresh.connect() as conn:
            functions = set(conn.execute(text(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema()")).scalars())
        assert functions == {"members_after_insert", "members_after_update",
                             "outreach_tasks_after_insert", "outreach_tasks_after_update",
                             "outreach_append_only"}
    assert _contents(fresh) == at_0003
    _assert_guarded(fresh, ids, open_task="t1")

    assert migrate.upgrade(fresh) == migrate.HEAD
    _assert_head_matches_the_code(fresh)


def _date(eng, iso: str):
    """A DATE as the driver returns it: SQLite's raw text, PostgreSQL's date."""
    import datetime as dt

    return iso if eng.dialect.name == "sqlite" else dt.date.fromisoformat(iso)


# --- upgrade from 0004 (with data): notice / make_up kinds, outcome visited, meeting_id -----

_NOTICE_CAMPAIGN = ("INSERT INTO campaigns (name, kind, window_days, cadence_days, max_attempts, "
                    "due_days, retry_days) VALUES ('notice', 'notice', 30, 30, 3, 14, 2)")


def _integrity_ok(eng) -> None:
    if eng.dialect.name == "sqlite":
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def test_upgrade_from_0004_with_data_widens_the_codes(fresh):
    assert migrate.upgrade(fresh, "0004") == "0004"
    with fresh.begin() as conn:
        ids = _seed_at_0001(conn)
    at_0004 = _contents(fresh)
    triggers_0004 = _triggers_by_table(fresh)
    # before: the new kind and outcome are refused by the CHECK constraints
    _refused(fresh, _NOTICE_CAMPAIGN, {}, mark="check")
    _refused(fresh, "UPDATE outreach_tasks SET kind = 'make_up' WHERE id = :t",
             {"t": ids["t1"]}, mark="check")
    _refused(fresh, "UPDATE outreach_tasks SET outcome = 'visited' WHERE id = :t",
             {"t": ids["t1"]}, mark="check")
    assert "meeting_id" not in _columns(fresh, "campaign_runs")

    assert migrate.upgrade(fresh) == migrate.HEAD
    _integrity_ok(fresh)
    assert _contents(fresh) == at_0004
    after = _triggers_by_table(fresh)  # nothing rebuilt, no trigger lost (0006 adds some)
    assert {t: after[t] for t in triggers_0004} == _as_at_head(fresh, triggers_0004)
    _assert_head_matches_the_code(fresh)
    _assert_guarded(fresh, ids, open_task="t1")

    # down: refused while a row uses a new value; narrowed back once none does
    with fresh.begin() as conn:
        conn.execute(text(_NOTICE_CAMPAIGN))
    with pytest.raises(RuntimeError, match="cannot downgrade below 0005"):
        migrate.downgrade(fresh, "0004")
    assert migrate.current(fresh) == migrate.HEAD
    with fresh.begin() as conn:
        conn.execute(text("DELETE FROM campaigns WHERE kind = 'notice'"))
    migrate.downgrade(fresh, "0004")
    assert migrate.current(fresh) == "0004"
    _integrity_ok(fresh)
    assert "meeting_id" not in _columns(fresh, "campaign_runs")
    assert _triggers_by_table(fresh) == triggers_0004
    assert _contents(fresh) == at_0004
    _refused(fresh, _NOTICE_CAMPAIGN, {}, mark="check")
    _assert_guarded(fresh, ids, open_task="t1")

    # up again: the new kind, outcome and column work, the guards still write history
    assert migrate.upgrade(fresh) == migrate.HEAD
    _assert_head_matches_the_code(fresh)
    with fresh.begin() as conn:
        conn.execute(text(_NOTICE_CAMPAIGN))
        c = conn.execute(text("SELECT id FROM campaigns WHERE kind = 'notice'")).scalar_one()
        conn.execute(text(
            "INSERT INTO meetings (branch_id, kind, status, planned_on, remote, version, "
            "created_at) SELECT branch_id, 'assembly', 'planned', '2026-12-01', 'phone', 1, "
            "CURRENT_TIMESTAMP FROM members WHERE id = :m"), {"m": ids["m1"]})
        meeting = conn.execute(text("SELECT max(id) FROM meetings")).scalar_one()
        conn.execute(text("INSERT INTO campaign_runs (campaign_id, period, meeting_id, "
                          "started_at) VALUES (:c, :p, :g, CURRENT_TIMESTAMP)"),
                     {"c": c, "p": f"m{meeting}", "g": meeting})
        run = conn.execute(text("SELECT id FROM campaign_runs WHERE meeting_id = :g"),
                           {"g": meeting}).scalar_one()
        conn.execute(text(
            "INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id, "
            "attempts, max_attempts, due_on, closes_on, pending_confirmation, version, "
            "created_at) VALUES (:r, :m, 'make_up', 'assigned', :v, 0, 3, '2026-12-15', "
            "'2026-12-29', :f, 1, CURRENT_TIMESTAMP)"),
            {"r": run, "m": ids["m1"], "v": ids["li"], "f": False})
        task = conn.execute(text("SELECT id FROM outreach_tasks WHERE kind = 'make_up'")
                            ).scalar_one()
        conn.execute(text("UPDATE outreach_tasks SET status = 'done', outcome = 'visited' "
                          "WHERE id = :t"), {"t": task})
        conn.execute(text("INSERT INTO attempts (task_id, outcome, recorded_on, recorded_at) "
                          "VALUES (:t, 'visited', '2026-12-02', CURRENT_TIMESTAMP)"),
                     {"t": task})
        history = conn.execute(text("SELECT from_status, to_status FROM task_status_changes "
                                    "WHERE task_id = :t ORDER BY id"), {"t": task}).all()
    assert history == [("new", "assigned"), ("assigned", "done")]
    _refused(fresh, "UPDATE outreach_tasks SET status = 'open', volunteer_id = NULL "
                    "WHERE id = :t", {"t": task})
    _refused(fresh, "UPDATE outreach_tasks SET kind = 'sightseeing' WHERE id = :t",
             {"t": ids["t1"]}, mark="check")
    _refused(fresh, "UPDATE campaign_runs SET meeting_id = 999999 WHERE id = :r",
             {"r": run}, mark="foreign key")
    _integrity_ok(fresh)
    with pytest.raises(RuntimeError, match="cannot downgrade below 0005"):
        migrate.downgrade(fresh, "0004")


# --- upgrade from 0005 (with data): care, contributions, movements ---------------------------

_CARE_CAMPAIGN = ("INSERT INTO campaigns (name, kind, window_days, cadence_days, max_attempts, "
                  "due_days, retry_days) VALUES ('care', 'care_visit', 30, 30, 3, 14, 2)")
_CARE_TABLES = {"care_occasions", "care_transition", "care_occasion_status_changes",
                "life_events", "hardships", "contributions", "movements"}


def test_upgrade_from_0005_with_data_adds_care_and_widens_the_codes(fresh):
    assert migrate.upgrade(fresh, "0005") == "0005"
    with fresh.begin() as conn:
        ids = _seed_at_0001(conn)
        # Mia went away (a residence change recorded twice: the newest counts), Bo is away
        # with no recorded change (not known), and a local member's old change is ignored
        conn.execute(text("UPDATE members SET residence = 'away' WHERE id IN (:a, :b)"),
                     {"a": ids["m1"], "b": ids["m2"]})
        change = text("INSERT INTO member_changes (member_id, field, old_value, new_value, at) "
                      "VALUES (:m, 'residence', :o, :n, :at)")
        conn.execute(change, {"m": ids["m1"], "o": "local", "n": "away",
                              "at": "2025-03-04 10:00:00"})
        conn.execute(change, {"m": ids["m1"], "o": "away", "n": "local",
                              "at": "2025-09-01 10:00:00"})
        conn.execute(change, {"m": ids["m1"], "o": "local", "n": "away",
                              "at": "2026-02-05 11:30:00"})
    at_0005 = _contents(fresh)
    triggers_0005 = _triggers_by_table(fresh)
    assert not _CARE_TABLES & _tables(fresh)
    _refused(fresh, _CARE_CAMPAIGN, {}, mark="check")
    _refused(fresh, "UPDATE outreach_tasks SET outcome = 'gift_delivered' WHERE id = :t",
             {"t": ids["t1"]}, mark="check")

    assert migrate.upgrade(fresh) == migrate.HEAD
    _integrity_ok(fresh)
    assert _contents(fresh) == at_0005
    after = _triggers_by_table(fresh)
    assert {t: after[t] for t in triggers_0005} == _as_at_head(fresh, triggers_0005)
    assert set(after) - set(triggers_0005) == {
        "care_occasions", "care_occasion_status_changes", "movements", "attempts",
        "access_events", "access_event_members"}
    _assert_head_matches_the_code(fresh)
    _assert_guarded(fresh, ids, open_task="t1")
    with fresh.connect() as conn:
        away = dict(conn.execute(text("SELECT id, away_since FROM members")).all())
    assert away == {ids["m1"]: _date(fresh, "2026-02-05"), ids["m2"]: None}

    # the new values, tables and guards work
    with fresh.begin() as conn:
        conn.execute(text(_CARE_CAMPAIGN))
        conn.execute(text("UPDATE outreach_tasks SET kind = 'transfer' WHERE id = :t"),
                     {"t": ids["t1"]})
        conn.execute(text(
            "INSERT INTO care_occasions (member_id, kind, occasion_on, window_from, window_to, "
            "detail, status, status_by, status_reason, version, created_at) VALUES (:m, "
            "'birthday', '2026-06-01', '2026-05-25', '2026-06-08', '90th birthday', 'due', :a, "
            "'planned', 1, CURRENT_TIMESTAMP)"), {"m": ids["m1"], "a": ids["ann"]})
        occ = conn.execute(text("SELECT max(id) FROM care_occasions")).scalar_one()
        conn.execute(text("UPDATE care_occasions SET status = 'visited', status_by = :a, "
                          "status_reason = 'flowers' WHERE id = :o"),
                     {"a": ids["li"], "o": occ})
        conn.execute(text(
            "INSERT INTO movements (member_id, kind, happened_on, at, from_place, to_place, "
            "source, recorded_by) VALUES (:m, 'away', '2026-02-05', CURRENT_TIMESTAMP, "
            "'Hangzhou', 'Shenzhen', 'cli', :a)"), {"m": ids["m1"], "a": ids["ann"]})
        assert conn.execute(text(
            "SELECT from_status, to_status, actor_id, reason FROM care_occasion_status_changes "
            "WHERE care_occasion_id = :o ORDER BY id"), {"o": occ}).all() == [
            ("new", "due", ids["ann"], "planned"), ("due", "visited", ids["li"], "flowers")]
    _refused(fresh, "UPDATE care_occasions SET status = 'due' WHERE id = :o", {"o": occ})
    _refused(fresh, "DELETE FROM movements", {}, mark="append-only")

    # down: refused while a row uses a new value; then every new part goes, data stays
    with pytest.raises(RuntimeError, match="cannot downgrade below 0006"):
        migrate.downgrade(fresh, "0005")
    assert migrate.current(fresh) == migrate.HEAD
    with fresh.begin() as conn:
        conn.execute(text("DELETE FROM campaigns WHERE kind = 'care_visit'"))
        conn.execute(text("UPDATE outreach_tasks SET kind = 'phone_visit' WHERE id = :t"),
                     {"t": ids["t1"]})
    migrate.downgrade(fresh, "0005")
    assert migrate.current(fresh) == "0005"
    _integrity_ok(fresh)
    assert not _CARE_TABLES & _tables(fresh)
    assert not {"away_since", "transfer_considered_on"} & _columns(fresh, "members")
    assert _triggers_by_table(fresh) == triggers_0005
    with fresh.connect() as conn:
        assert _guards_in_database(conn) == {
            k: {**_guards_in_code(fresh.dialect.name, "0001")[k],
                **_guards_in_code(fresh.dialect.name, "0004")[k]}
            for k in _guards_in_code(fresh.dialect.name, "0001")}
    assert _contents(fresh) == at_0005
    _refused(fresh, _CARE_CAMPAIGN, {}, mark="check")
    _assert_guarded(fresh, ids, open_task="t1")

    # and up again
    assert migrate.upgrade(fresh) == migrate.HEAD
    _assert_head_matches_the_code(fresh)
    _integrity_ok(fresh)
