"""The organisational-life CLI contract (issue 12): `meeting plan|list|show|mark|attendance|
close`, `member role`, `report meetings` — output, exit codes 0/1/2, one-line errors,
nothing half-written, no contact detail in a message."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from outreach.db.models import Attendance, OutreachTask
from outreach.db.session import make_engine, session_scope
from tests.cli.helpers import bootstrap, outreach

HEADER = ("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
          "homebound,family_contact_name,family_contact_phone")
PHONE = "555-1234"
TODAY = "2026-03-02"


def _ledger(tmp_path, coord):
    f = tmp_path / "ledger.csv"
    f.write_text("\n".join([
        HEADER,
        f"L1,Lily Local,1940-01-01,{PHONE},North,local,1 Main St,,no,,",
        "A1,Andy Away,1941-01-01,555-2222,North,away,2 Main St,9 Far Rd,no,,",
        "H1,Hana Home,1942-01-01,555-3333,North,local,3 Main St,,yes,,",
        "S1,Sam South,1943-01-01,555-4444,South,local,4 Main St,,no,,",
    ]) + "\n")
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 0, r.output


def _count(url, stmt) -> int:
    with session_scope(make_engine(url), write=False) as s:
        return s.scalar(stmt)


def _plan(coord, date, *extra):
    r = outreach("meeting", "plan", "--branch", "North", "--kind", "group", "--date", date,
                 "--today", TODAY, *extra, code=coord)
    assert r.exit_code == 0, r.output
    return r.stdout.strip()


def test_the_whole_contract_from_plan_to_report(db_url, tmp_path):
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    # a future meeting: notices for the away and the homebound member
    fid = _plan(coord, "2026-03-20", "--topic", "Spring", "--remote")
    assert fid.isdigit()
    notices = _count(db_url, select(func.count()).select_from(OutreachTask)
                     .where(OutreachTask.kind == "notice"))
    assert notices == 2
    # a past meeting: held, marked at once
    mid = _plan(coord, "2026-02-10", "--material", "Booklet 2")
    r = outreach("meeting", "mark", mid, "L1", "present", "--today", TODAY, code=coord)
    assert r.exit_code == 0 and "present" in r.stdout
    r = outreach("meeting", "mark", mid, "A1", "excused", "--today", TODAY, code=coord)
    assert r.exit_code == 2 and "needs a reason" in r.stderr
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("ledger_no,attendance,reason\nA1,remote,\nH1,excused,ill\nS1,present,\n"
                     f"{PHONE},absent,\n")
    r = outreach("meeting", "attendance", mid, str(sheet), "--today", TODAY, code=coord)
    assert r.exit_code == 2
    assert "line 4: member" in r.stderr and "not invited" in r.stderr
    assert "line 5: unknown ledger number" in r.stderr and PHONE not in r.stderr
    assert _count(db_url, select(func.count()).select_from(Attendance).where(
        Attendance.status == "invited")) == 5  # nothing marked but L1 (3 + 2 invited)
    sheet.write_text("ledger_no,attendance,reason\nA1,remote,\nH1,excused,ill\n")
    r = outreach("meeting", "attendance", mid, str(sheet), "--today", TODAY, code=coord)
    assert r.exit_code == 0 and "2 marked" in r.stdout
    r = outreach("meeting", "show", mid, code=coord)
    assert r.exit_code == 0 and "Hana Home" in r.stdout and "excused" in r.stdout
    assert PHONE not in r.stdout and "Main St" not in r.stdout
    r = outreach("meeting", "close", mid, "--chair", "Ann", "--minutes", "done",
                 "--today", TODAY, code=coord)
    assert r.exit_code == 0 and r.stdout.strip() == "1"  # H1's make-up study
    r = outreach("meeting", "close", mid, "--today", TODAY, code=coord)
    assert r.exit_code == 0 and r.stdout.strip() == "0"
    r = outreach("meeting", "list", "--period", "2026-Q1", "--format", "json", "--today", TODAY,
                 code=coord)
    rows = json.loads(r.stdout)
    assert [(x["id"], x["status"]) for x in rows] == [(int(mid), "closed"),
                                                      (int(fid), "planned")]
    r = outreach("report", "meetings", "--period", "2026-Q1", "--format", "json",
                 "--today", "2026-04-15", code=coord)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    group = next(x for x in out["rows"] if (x["branch"], x["kind"]) == ("North", "group"))
    assert (group["held"], group["invited"], group["present"], group["remote"],
            group["excused"], group["attendance_rate"]) == (1, 3, 1, 1, 1, 0.667)
    assert out["members_without_life"] == 2  # H1 (excused, not made up yet) and S1
    r = outreach("report", "meetings", "--period", "2026-Q1", "--branch", "South",
                 "--today", "2026-04-15", code=coord)
    assert r.exit_code == 0 and "North" not in r.stdout
    assert "1 members with no organisational life" in r.stdout


def test_volunteers_are_refused_and_mistakes_are_one_line(db_url, tmp_path):
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("meeting", "plan", "--branch", "North", "--kind", "group", "--date",
                 "2026-02-10", code=vol)
    assert r.exit_code == 1 and "only a coordinator" in r.stderr
    for args in (["meeting", "list"], ["meeting", "show", "1"],
                 ["report", "meetings"], ["member", "role", "L1", "secretary", "--branch",
                                          "North"]):
        r = outreach(*args, code=vol)
        assert r.exit_code == 1 and "only a coordinator" in r.stderr, args
    r = outreach("meeting", "plan", "--branch", "North", "--kind", "party", "--date",
                 "2026-02-10", code=coord)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "unknown kind" in r.stderr
    r = outreach("meeting", "show", "x1", code=coord)
    assert r.exit_code == 2 and "meeting id is a number" in r.stderr
    r = outreach("meeting", "show", "99", code=coord)
    assert r.exit_code == 2 and "no meeting with id 99" in r.stderr
    r = outreach("report", "meetings", "--period", "2026-13", code=coord)
    assert r.exit_code == 2 and "YYYY-Qn" in r.stderr
    r = outreach("report", "coverage", "--branch", "North", code=coord)
    assert r.exit_code == 2 and "meetings report" in r.stderr


def test_member_role_is_shown_and_a_committee_meeting_invites_it(db_url, tmp_path):
    coord, _ = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("member", "role", "L1", "secretary", "--branch", "North", code=coord)
    assert r.exit_code == 0 and "secretary in North" in r.stdout
    assert "secretary of North" in outreach("member", "show", "L1", code=coord).stdout
    r = outreach("member", "role", "L1", "secretary", "--branch", "South", code=coord)
    assert r.exit_code == 1 and "not a member of branch 'South'" in r.stderr
    r = outreach("meeting", "plan", "--branch", "North", "--kind", "committee", "--date",
                 "2026-02-10", "--today", TODAY, code=coord)
    mid = r.stdout.strip()
    assert "1 invited" in r.stderr
    r = outreach("meeting", "show", mid, code=coord)
    assert "secretary Lily Local (L1)" in r.stdout
    r = outreach("member", "role", "L1", "none", "--branch", "North", code=coord)
    assert r.exit_code == 0 and "none in North" in r.stdout
    assert "roles" not in outreach("member", "show", "L1", code=coord).stdout


def test_a_meeting_can_be_moved_held_and_cancelled(db_url, tmp_path):
    coord, _ = bootstrap()
    _ledger(tmp_path, coord)
    mid = _plan(coord, "2026-03-20")
    r = outreach("meeting", "move", mid, "--date", "2026-03-27", "--today", TODAY, code=coord)
    assert r.exit_code == 0 and "2 notices moved" in r.stdout
    r = outreach("meeting", "hold", mid, "--today", TODAY, code=coord)
    assert r.exit_code == 1 and "before it happens" in r.stderr
    r = outreach("meeting", "cancel", mid, "--reason", "flooded hall", code=coord)
    assert r.exit_code == 0 and "2 notices cancelled" in r.stdout
    r = outreach("meeting", "cancel", mid, "--reason", "again", code=coord)
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    assert dt.date.fromisoformat(TODAY)  # the fixed day the commands ran on


def test_a_plan_meeting_ticket_is_for_coordinators(db_url):
    coord, vol = bootstrap()
    r = outreach("meeting", "ticket", code=coord)
    assert r.exit_code == 0 and r.stdout.strip()
    from outreach.tasks.access import tickets

    with session_scope(make_engine(db_url)) as s:
        who = tickets.redeem(s, r.stdout.strip(), purpose="plan-meeting")
        assert who.is_coordinator
    r = outreach("meeting", "ticket", code=vol)
    assert r.exit_code == 1 and "coordinator" in r.stderr


def test_hostile_arguments_are_one_line_and_write_nothing(db_url, tmp_path):
    coord, _ = bootstrap()
    _ledger(tmp_path, coord)
    cases = [
        ["meeting", "show", "99999999999999999999"],
        ["meeting", "mark", "99999999999999999999", "L1", "present"],
        ["meeting", "without-life", "--months", "99999999999"],
        ["meeting", "plan", "--branch", "North", "--kind", "group", "--date", "9999-12-31"],
        ["meeting", "plan", "--branch", "North", "--kind", "group", "--date", "2026-02-10",
         "--topic", "a\x1b[2Jb"],
        ["meeting", "plan", "--branch", "North", "--kind", "group", "--date", "2026-02-10",
         "--topic", "x" * 201],
        ["meeting", "attendance", "1", "a" * 300 + ".csv"],
        ["report", "meetings", "--period", "0000-Q1"],
    ]
    for args in cases:
        before = _count(db_url, select(func.count()).select_from(Attendance))
        r = outreach(*args, code=coord)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output, args
        assert _count(db_url, select(func.count()).select_from(Attendance)) == before


def test_self_study_is_a_coordinators_setting_of_a_branch(db_url):
    """`meeting self-study BRANCH [--on|--off]`: shown, set, said unchanged; a volunteer
    and an unknown branch are refused (exit 1 and 2, one line)."""
    from outreach.db.models import Branch

    coord, vol = bootstrap()
    r = outreach("meeting", "self-study", "North", code=coord)
    assert r.exit_code == 0 and "not accepted" in r.stdout, r.output
    r = outreach("meeting", "self-study", "North", "--on", code=coord)
    assert r.exit_code == 0 and "is accepted" in r.stdout and "unchanged" not in r.stdout
    assert _count(db_url, select(Branch.self_study).where(Branch.name == "North"))
    r = outreach("meeting", "self-study", "North", "--on", code=coord)
    assert r.exit_code == 0 and "(unchanged)" in r.stdout
    r = outreach("meeting", "self-study", "North", "--off", code=vol)
    assert r.exit_code == 1 and "coordinator" in r.output and len(r.output.splitlines()) == 1
    r = outreach("meeting", "self-study", "Nowhere", "--on", code=coord)
    assert r.exit_code == 2 and "no branch named" in r.output
    r = outreach("meeting", "self-study", "North", "--off", code=coord)
    assert r.exit_code == 0 and "not accepted" in r.stdout
    assert not _count(db_url, select(Branch.self_study).where(Branch.name == "North"))
