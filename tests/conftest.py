"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when
``OUTREACH_TEST_DATABASE_URL`` is set), a rolled-back session per test, a clean committed
database for tests that run commands or flows, and one Prefect test harness per session.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

# Prefect reads these at import: quiet, offline, before anything imports it.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import outreach.tasks.access.permissions
from outreach import tasks
from outreach.db import migrate, session as db_session
from outreach.db.session import make_engine

#: The wrong-code slow-down as shipped (tests/tasks/test_access.py checks it); every test
#: runs without it (`_no_login_delay`), except commands run as separate processes.
SHIPPED_BASE_DELAY = tasks.access.permissions.BASE_DELAY

PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")
DATA_TABLES = [
    "care_occasion_status_changes", "care_occasions", "life_events", "hardships",
    "contributions", "movements",
    "attempts", "task_status_changes", "outreach_tasks", "campaign_runs", "campaigns",
    "attendance_status_changes", "attendance", "meeting_status_changes", "meetings",
    "branch_roles", "member_status_changes", "member_changes", "members", "volunteers",
    "branches", "login_failures", "run_tickets", "idempotency_keys", "access_event_members",
    "access_events", "app_sessions", "member_link_keys",
    "member_links",
]


def _prepare_pg(url: str) -> None:
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(eng)
    eng.dispose()


@pytest.fixture(autouse=True)
def _no_login_delay(monkeypatch):
    """Wrong codes are answered at once in tests (the module constant; no setting can)."""
    monkeypatch.setattr(tasks.access.permissions, "BASE_DELAY", 0.0)


#: The tests' "real today" for `tasks.kernel.rules.check_not_future`: they replay fixed dates in
#: 2026–2027, which must not become "the future" depending on the day the suite runs.
#: Tests of the rule itself use dates far beyond (2099, 2100) or patch it themselves.
TEST_REAL_TODAY = dt.date(2027, 12, 31)


@pytest.fixture(autouse=True)
def _pinned_real_today(monkeypatch):
    import outreach.tasks.kernel.rules
    from outreach import tasks

    monkeypatch.setattr(tasks.kernel.rules, "real_today",
                        lambda: max(dt.date.today(), TEST_REAL_TODAY))


@pytest.fixture(scope="session")
def template_url(tmp_path_factory) -> str:
    """A migrated, empty database: a SQLite template file, or the PostgreSQL test db."""
    if PG_URL:
        _prepare_pg(_normal(PG_URL))
        return _normal(PG_URL)
    path = tmp_path_factory.mktemp("template") / "outreach.db"
    eng = make_engine(f"sqlite:///{path}")
    migrate.upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return f"sqlite:///{path}"


def _normal(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@pytest.fixture(scope="session")
def engine(template_url):
    eng = make_engine(template_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine):
    """A session whose work is rolled back at teardown (commits become savepoints)."""
    with engine.connect() as conn:
        trans = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint",
                     expire_on_commit=False) as s:
            yield s
        if trans.is_active:
            trans.rollback()


@pytest.fixture
def db_url(template_url, tmp_path, monkeypatch) -> str:
    """A clean, migrated database whose writes are committed; the env points at it."""
    if PG_URL:
        _wipe_pg(template_url)
        url = template_url
    else:
        src = template_url.split("///", 1)[1]
        dst = tmp_path / "outreach.db"
        shutil.copy(src, dst)
        url = f"sqlite:///{dst}"
    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OUTREACH_TOKEN", raising=False)
    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()
    yield url
    for eng in db_session._engines.values():
        eng.dispose()
    db_session._engines.clear()
    if PG_URL:  # leave nothing committed behind for the rolled-back `session` tests
        _wipe_pg(template_url)


def _wipe_pg(url: str) -> None:
    eng = make_engine(url)
    with eng.begin() as conn:
        # History tables refuse TRUNCATE; a test database is wiped with triggers off.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (a temporary API and database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
