"""Migrations: a fresh database upgrades to HEAD with every table, transition row and
guard; downgrade to base removes them; upgrade again works; unready databases refused.

Runs on a fresh SQLite file, and also on a throw-away PostgreSQL schema when
``OUTREACH_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

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

from db import guards, migrate
from db.errors import NotReady
from db.models import Base
from db.session import make_engine

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


def _script_head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


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
    with fresh.connect() as conn:
        member = conn.execute(text("SELECT from_status, to_status, coordinator_only "
                                   "FROM member_transition")).all()
        task = conn.execute(text("SELECT from_status, to_status FROM task_transition")).all()
    assert sorted((a, b, bool(c)) for a, b, c in member) == sorted(
        (r["from_status"], r["to_status"], r["coordinator_only"])
        for r in guards.transition_rows("member"))
    assert sorted(tuple(r) for r in task) == sorted(
        (r["from_status"], r["to_status"]) for r in guards.transition_rows("task"))


def test_migration_matches_the_models(fresh):
    """The migration creates what the models describe (no drift in tables or columns)."""
    migrate.upgrade(fresh)
    with fresh.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


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
