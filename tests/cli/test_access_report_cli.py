"""Who saw what, through the command line and the ledger service (issue 24): every door
that shows contact details leaves its row; `outreach report access` finds them (a
coordinator's); `outreach members purge` clears the departed's details."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from outreach.db.machines import TaskStatus as TS
from outreach.db.models import AccessEvent, AccessEventMember, Member, MemberStatusChange, Volunteer
from outreach.db.session import engine, session_scope
from outreach.db.state import move_member
from tests.cli.helpers import bootstrap, outreach
from tests.db import factories as f
from tests.service.conftest import serve  # noqa: F401 (the ledger service, as a fixture)

HEADER = ("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
          "homebound,family_contact_name,family_contact_phone\n")
ROWS = ("L1,Li Wei,1950-01-01,555 1001,North,local,1 Main St,,no,Wang Fang,555 1901\n"
        "L2,Zhao Min,1948-02-02,555 1002,North,local,2 Main St,,no,Liu Yang,555 1902\n"
        "L3,Sun Li,1945-03-03,555 1003,North,local,3 Main St,,no,Ma Lin,555 1903\n")


@pytest.fixture
def ledger(db_url, tmp_path):
    """Ann (coordinator) and Bob (volunteer) in North; L1–L3 with contact details; a task
    of L1 assigned to Bob; L2 unreachable."""
    coord, bob = bootstrap()
    src = tmp_path / "in.csv"
    src.write_text(HEADER + ROWS)
    assert outreach("members", "import", str(src), code=coord).exit_code == 0
    with session_scope(engine(db_url)) as s:
        bob_row = s.scalars(select(Volunteer).where(Volunteer.name == "Bob Volunteer")).one()
        ann_row = s.scalars(select(Volunteer).where(Volunteer.name == "Ann Coordinator")).one()
        ids = {m.ledger_no: m.id for m in s.scalars(select(Member))}
        task = f.task(s, member_=s.get(Member, ids["L1"]), status=TS.ASSIGNED,
                      volunteer_=bob_row)
        move_member(s, s.get(Member, ids["L2"]), "unreachable", actor_id=ann_row.id,
                    reason="test", coordinator=True)
        return dict(url=db_url, coord=coord, bob=bob, bob_id=bob_row.id, ann_id=ann_row.id,
                    ids=ids, task=task.id, tmp=tmp_path)


def events(url) -> list[tuple]:
    with session_scope(engine(url), write=False) as s:
        out = []
        for e in s.scalars(select(AccessEvent).order_by(AccessEvent.id)):
            ids = sorted(s.scalars(select(AccessEventMember.member_id)
                                   .where(AccessEventMember.event_id == e.id)))
            out.append((e.volunteer_id, e.door, e.file_name, e.members_count, ids))
        return out


def test_every_door_leaves_a_row_and_the_report_finds_them(ledger, serve):
    L, tmp = ledger, ledger["tmp"]
    ids = L["ids"]
    # task show, on this machine and through the ledger service
    r = outreach("task", "show", str(L["task"]), code=L["bob"])
    assert r.exit_code == 0 and "555 1001" in r.stdout
    service = serve(L["url"])
    r = outreach("task", "show", str(L["task"]), code=L["bob"],
                 env={"OUTREACH_SERVER": service.url})
    assert r.exit_code == 0 and "555 1001" in r.stdout
    # the run sheet in Excel, the member card, the unreachable list, the export
    assert outreach("tasks", "--format", "xlsx", "--output", str(tmp / "round.xlsx"),
                    code=L["bob"]).exit_code == 0
    assert outreach("member", "show", "L3", code=L["coord"]).exit_code == 0
    assert outreach("report", "unreachable", "--format", "xlsx", "--output",
                    str(tmp / "lost.xlsx"), code=L["coord"]).exit_code == 0
    assert outreach("members", "export", str(tmp / "all.csv"), code=L["coord"]).exit_code == 0
    bob, ann = L["bob_id"], L["ann_id"]
    assert events(L["url"]) == [
        (bob, "cli", None, 1, [ids["L1"]]),
        (bob, "service", None, 1, [ids["L1"]]),
        (bob, "runsheet", "round.xlsx", 1, [ids["L1"]]),
        (ann, "member-card", None, 1, [ids["L3"]]),
        (ann, "unreachable", "lost.xlsx", 1, [ids["L2"]]),
        (ann, "export", "all.csv", 3, sorted(ids.values())),
    ]
    # never a detail in the log, whatever the column
    with engine(L["url"]).connect() as conn:
        from sqlalchemy import text

        blob = " ".join(str(v) for t in ("access_events", "access_event_members")
                        for row in conn.execute(text(f"SELECT * FROM {t}")) for v in row)
    for detail in ("555 10", "555 19", "Main St", "Wang Fang"):
        assert detail not in blob

    r = outreach("report", "access", "--member", "L1", "--format", "json", code=L["coord"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["volunteer_id"], x["volunteer"], x["door"], x["file"], x["members"])
            for x in rows] == [(bob, "Bob Volunteer", "cli", "", 1),
                               (bob, "Bob Volunteer", "service", "", 1),
                               (bob, "Bob Volunteer", "runsheet", "round.xlsx", 1),
                               (ann, "Ann Coordinator", "export", "all.csv", 3)]
    r = outreach("report", "access", "--volunteer", str(ann), code=L["coord"])
    assert r.exit_code == 0, r.output
    assert "member-card" in r.stdout and "lost.xlsx" in r.stdout and "all.csv" in r.stdout
    assert "runsheet" not in r.stdout
    r = outreach("report", "access", "--member", "L1", "--until", "2020-01-01",
                 code=L["coord"])
    assert r.exit_code == 0 and "no one was shown" in r.stdout


def test_a_volunteer_cannot_read_the_access_report(ledger):
    r = outreach("report", "access", "--member", "L1", code=ledger["bob"])
    assert r.exit_code == 1
    assert "only a coordinator" in r.output and "Traceback" not in r.output
    r = outreach("report", "access", code=ledger["coord"])
    assert r.exit_code == 2 and "--member" in r.output


def test_purge_clears_the_departed_before_the_day_and_prints_counts(ledger):
    L = ledger
    with session_scope(engine(L["url"])) as s:
        for no, state in (("L1", "deceased"), ("L3", "moved_out")):
            move_member(s, s.get(Member, L["ids"][no]), state, actor_id=L["ann_id"],
                        reason="test", coordinator=True)
        # L3 moved out again later (after the day): kept
        s.add(MemberStatusChange(member_id=L["ids"]["L3"], from_status="active",
                                 to_status="moved_out", at=dt.datetime(2027, 6, 1)))
    r = outreach("members", "purge", "--before", "2027-01-01", code=L["bob"])
    assert r.exit_code == 1 and "only a coordinator" in r.output
    r = outreach("members", "purge", "--before", "2099-01-01", "--yes", code=L["coord"])
    assert r.exit_code == 2 and "future" in r.output
    r = outreach("members", "purge", "--before", "2027-01-01", code=L["coord"])
    assert r.exit_code == 2 and "--yes" in r.output  # no terminal to ask: refused
    r = outreach("members", "purge", "--before", "2027-01-01", "--yes", code=L["coord"])
    assert r.exit_code == 0, r.output
    assert "purged 1 members: 4 contact fields cleared" in r.stdout
    assert "555" not in r.output and "Main St" not in r.output
    with session_scope(engine(L["url"]), write=False) as s:
        phones = {m.ledger_no: (m.phone, m.home_address, m.family_contact_phone)
                  for m in s.scalars(select(Member))}
        history = s.scalars(select(MemberStatusChange.to_status)
                            .where(MemberStatusChange.member_id == L["ids"]["L1"])).all()
    assert phones == {"L1": (None, None, None), "L2": ("555 1002", "2 Main St", "555 1902"),
                      "L3": ("555 1003", "3 Main St", "555 1903")}
    assert "deceased" in history
