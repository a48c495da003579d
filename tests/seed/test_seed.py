"""The seed generator: deterministic, realistic proportions, locales, working codes, additive."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outreach.db.models import Branch, BranchKind, Member, MemberStatusChange, Volunteer
from outreach.db.session import make_engine
from outreach.seed.generate import MEMBER_COLUMNS, SeedResult, seed_ledger
from outreach.tasks.access.permissions import authenticate

TODAY = dt.date(2026, 11, 2)


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


def _fresh(template_url: str, tmp_path, name: str):
    """Another clean migrated database (SQLite: a copy; PostgreSQL: the test db wiped)."""
    if template_url.startswith("sqlite"):
        dst = tmp_path / name
        shutil.copy(template_url.split("///", 1)[1], dst)
        return make_engine(f"sqlite:///{dst}")
    from tests.conftest import DATA_TABLES

    e = make_engine(template_url)
    with e.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    return e


def _snapshot(e) -> dict[str, list[tuple]]:
    member_cols = [c for c in MEMBER_COLUMNS if c != "created_at"]
    with e.connect() as conn:
        return {
            "branches": [tuple(r) for r in conn.execute(text(
                "SELECT id, name, kind, parent_id FROM branches ORDER BY id"))],
            "volunteers": [tuple(r) for r in conn.execute(text(
                "SELECT id, name, branch_id, role, capacity, active, failed_logins "
                "FROM volunteers ORDER BY id"))],
            "members": [tuple(r) for r in conn.execute(text(
                f"SELECT {', '.join(member_cols)} FROM members ORDER BY id"))],
        }


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_same_seed_same_ledger(template_url, tmp_path):
    e1 = _fresh(template_url, tmp_path, "one.db")
    r1 = seed_ledger(e1, members=400, seed=11, today=TODAY)
    first = _snapshot(e1)
    e1.dispose()
    e2 = _fresh(template_url, tmp_path, "two.db")
    r2 = seed_ledger(e2, members=400, seed=11, today=TODAY)
    second = _snapshot(e2)
    e2.dispose()

    assert first == second
    assert len(first["members"]) == 400
    # The rows are the same, the access codes are not.
    assert [c[:4] for c in r1.codes] == [c[:4] for c in r2.codes]
    assert not {c[4] for c in r1.codes} & {c[4] for c in r2.codes}

    e3 = _fresh(template_url, tmp_path, "three.db")
    seed_ledger(e3, members=400, seed=12, today=TODAY)
    other = _snapshot(e3)
    e3.dispose()
    assert other["members"] != first["members"]


def test_proportions_and_shape(eng):
    res = seed_ledger(eng, members=2000, seed=3, today=TODAY)
    assert isinstance(res, SeedResult)
    with Session(eng) as s:
        members = s.scalars(select(Member)).all()
        branches = {b.id: b for b in s.scalars(select(Branch))}
        vols = s.scalars(select(Volunteer)).all()
        history = s.scalars(select(MemberStatusChange)).all()

    n = len(members)
    assert n == res.members == 2000
    away = [m for m in members if m.residence == "away"]
    homebound = [m for m in members if m.homebound]
    assert res.away == len(away) and res.homebound == len(homebound)
    assert 0.16 < len(away) / n < 0.24
    assert 0.07 < len(homebound) / n < 0.13

    ages = [_age(m.birth_date, TODAY) for m in members]
    assert min(ages) >= 60 and max(ages) <= 95
    assert max(ages) - min(ages) > 25

    # Away members have a current address in another city; locals keep just the home one.
    for m in members:
        assert m.home_address
        if m.residence == "away":
            assert m.current_address and m.current_address != m.home_address
            home_city = m.home_address.split(", ")[-2]
            assert home_city not in m.current_address
        else:
            assert m.current_address is None

    statuses = Counter(str(m.status) for m in members)
    assert set(statuses) <= {"active", "unverified"}
    assert 0.65 < statuses["active"] / n < 0.85
    for m in members:
        if m.status == "active":
            assert m.confirmed_on and TODAY - dt.timedelta(days=731) <= m.confirmed_on <= TODAY
            assert m.address_verified_on and m.phone_verified_on
            if m.last_reached_on:
                assert m.confirmed_on <= m.last_reached_on <= TODAY
                assert m.last_reached_by is not None
        else:
            assert m.confirmed_on is None and m.last_reached_on is None
        assert m.status_reason == "seeded" and m.phone
    assert sum(1 for m in members if m.last_reached_on) > n * 0.3
    assert sum(1 for m in members if m.family_contact_name and m.family_contact_phone) > n * 0.8
    assert sum(1 for m in members if m.interests) > n * 0.4

    ledger = sorted(m.ledger_no for m in members)
    assert ledger[0] == "M0000001" and ledger[-1] == "M0002000"

    kinds = Counter(str(branches[m.branch_id].kind) for m in members)
    assert kinds["geographic"] > n * 0.75 and kinds["interest"] > n * 0.05
    assert kinds["committee"] == 0
    for m in members:
        b = branches[m.branch_id]
        if b.kind == BranchKind.INTEREST:
            assert m.interests  # a member of the choir likes singing
    committees = [b for b in branches.values() if b.kind == BranchKind.COMMITTEE]
    assert 1 <= len(committees) <= 2
    for b in branches.values():
        if b.kind == BranchKind.COMMITTEE:
            assert b.parent_id is None
        else:
            assert branches[b.parent_id].kind == BranchKind.COMMITTEE
    names = {b.name for b in branches.values()}
    assert {"Calligraphy Group", "Choir", "Tai Chi Group", "Chess Club"} <= names
    assert res.branches == len(branches)

    # Volunteers: default count, capacities, coordinators in every committee.
    assert len(vols) == res.volunteers == max(3, 2000 // 40)
    assert all(10 <= v.capacity <= 40 and v.active for v in vols)
    coords = [v for v in vols if v.role == "coordinator"]
    assert len(coords) == res.coordinators
    assert {c.branch_id for c in coords} >= {b.id for b in committees}
    assert len(coords) >= len(committees) + (len(branches) - len(committees)) // 5
    assert all(branches[v.branch_id].kind != BranchKind.COMMITTEE
               for v in vols if v.role == "volunteer")

    # One history row per member, written by the database.
    assert len(history) == n
    assert {(h.from_status, h.reason) for h in history} == {("new", "seeded")}


def test_zh_cn_is_chinese(eng):
    res = seed_ledger(eng, members=300, seed=5, locale="zh_CN", today=TODAY)

    def chinese(s: str) -> bool:
        return any("\u4e00" <= ch <= "\u9fff" for ch in s)

    with Session(eng) as s:
        members = s.scalars(select(Member)).all()
        branch_names = set(s.scalars(select(Branch.name)))
    assert all(chinese(m.name) and " " not in m.name for m in members)
    assert all(chinese(m.home_address) for m in members)
    assert {"书画协会", "太极拳队", "合唱团"} <= branch_names
    assert all(chinese(c[1]) for c in res.codes)
    assert all(m.phone.isdigit() and len(m.phone) == 11 for m in members)


def test_codes_authenticate(eng):
    res = seed_ledger(eng, members=200, seed=9, today=TODAY)
    assert len(res.codes) == res.volunteers >= 3
    with Session(eng) as s:
        for vid, name, role, branch_name, code in res.codes:
            actor = authenticate(s, code)
            assert (actor.id, actor.name, actor.role) == (vid, name, role)
            assert s.get(Branch, actor.branch_id).name == branch_name
            # Only the salted hash is stored.
            vol = s.get(Volunteer, vid)
            assert code.split("-", 1)[1] not in (vol.code_hash, vol.code_salt)
    assert any(c[2] == "coordinator" for c in res.codes)


def test_seeding_twice_adds(eng):
    a = seed_ledger(eng, members=300, seed=1, today=TODAY)
    b = seed_ledger(eng, members=300, seed=1, today=TODAY)  # same names: branches reused
    c = seed_ledger(eng, members=250, volunteers=4, seed=2, locale="zh_CN", today=TODAY)
    with Session(eng) as s:
        assert s.scalar(select(func.count()).select_from(Member)) == 850
        ledger = s.scalars(select(Member.ledger_no).order_by(Member.ledger_no)).all()
        n_branches = s.scalar(select(func.count()).select_from(Branch))
        n_vols = s.scalar(select(func.count()).select_from(Volunteer))
    assert len(set(ledger)) == 850 and ledger[-1] == "M0000850"
    assert n_branches == a.branches + c.branches  # the second en_US seeding reused all
    assert n_vols == a.volunteers + b.volunteers + c.volunteers
    assert c.volunteers == max(4, c.coordinators)
    ids = [code[0] for code in a.codes + b.codes + c.codes]
    assert len(set(ids)) == len(ids)

    # Ids handed out explicitly leave the database's own numbering usable.
    with Session(eng) as s, s.begin():
        m = Member(ledger_no="X-1", name="Late Comer", branch_id=1, status_reason="test")
        s.add(m)
        s.flush()
        assert m.id > 850


def test_zero_members_and_bad_input(eng):
    res = seed_ledger(eng, members=0, seed=1, today=TODAY)
    assert res.members == 0 and res.volunteers >= res.coordinators >= 1
    with pytest.raises(ValueError):
        seed_ledger(eng, members=10, locale="fr_FR")
    with pytest.raises(ValueError):
        seed_ledger(eng, members=-1)


def test_sqlite_stays_in_wal(tmp_path):
    """SQLite's journal modes: on a file of its own, whatever database the suite uses."""
    from outreach.db import migrate
    from outreach.db.session import make_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    migrate.upgrade(eng)
    seed_ledger(eng, members=50, seed=1, today=TODAY)  # alone: through a rollback journal
    with eng.connect() as other:  # a reader holds the file: straight into the WAL
        assert other.exec_driver_sql("SELECT count(*) FROM members").scalar() == 50
        other.commit()
        seed_ledger(eng, members=50, seed=1, today=TODAY)
        assert other.exec_driver_sql("SELECT count(*) FROM members").scalar() == 100
        assert other.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
