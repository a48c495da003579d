"""The care CLI (issue 13): `care plan`, `member event|hardship|contribution`, and the
contributions on `member show` — output, exit codes 0/1/2, one-line errors."""

from __future__ import annotations

from sqlalchemy import func, select

from outreach.db.models import CareOccasion, Movement, OutreachTask
from outreach.db.session import make_engine, session_scope
from tests.cli.helpers import bootstrap, outreach

HEADER = ("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
          "homebound,family_contact_name,family_contact_phone")


def _count(url, stmt) -> int:
    eng = make_engine(url)
    try:
        with session_scope(eng, write=False) as s:
            return s.scalar(stmt)
    finally:
        eng.dispose()


def _ledger(tmp_path, coord, away="local"):
    f = tmp_path / "ledger.csv"
    f.write_text("\n".join([
        HEADER,
        "O1,Olga Old,1940-01-01,555-1111,North,local,1 Main St,,no,,",
        f"Y1,Yan Young,1960-03-03,555-2222,North,{away},2 Main St,,no,,",
        "H1,Hu Home,1962-04-04,555-3333,North,local,3 Main St,,yes,,",
    ]) + "\n")
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 0, r.output


def test_care_plan_around_the_spring_festival(db_url, tmp_path):
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("care", "plan", "--today", "2027-01-29", code=coord)
    assert r.exit_code == 0, r.output
    assert "spring festival 0" in r.stdout and "care visits 0 made" in r.stdout
    r = outreach("care", "plan", "--today", "2027-01-30", code=coord)
    assert r.exit_code == 0, r.output
    assert "spring festival 2" in r.stdout and "care visits 2 made (2 assigned" in r.stdout
    r = outreach("care", "plan", "--today", "2027-01-30", code=coord)
    assert "spring festival 0" in r.stdout and "care visits 0 made" in r.stdout
    assert _count(db_url, select(func.count()).select_from(OutreachTask)
                  .where(OutreachTask.kind == "care_visit")) == 2
    r = outreach("care", "plan", "--today", "2027-01-30", code=vol)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    r = outreach("care", "plan", "--today", "2099-01-01", code=coord)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


def test_member_event_hardship_and_contribution(db_url, tmp_path):
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("member", "event", "Y1", "hospitalised", code=vol)
    assert r.exit_code == 1 and "not in your open tasks" in r.output
    r = outreach("member", "event", "Y1", "hospitalised", "--note", "a fall", code=coord)
    assert r.exit_code == 0, r.output
    assert "care visit task" in r.stdout and "555" not in r.output
    r = outreach("member", "event", "Y1", "party", code=coord)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    r = outreach("member", "hardship", "H1", "--level", "2", code=coord)
    assert r.exit_code == 0 and "level 2" in r.stdout
    r = outreach("member", "hardship", "H1", "--level", "2", "--clear", code=coord)
    assert r.exit_code == 2
    r = outreach("member", "hardship", "H1", "--clear", code=coord)
    assert r.exit_code == 0 and "cleared" in r.stdout
    r = outreach("member", "hardship", "H1", "--level", "1", code=vol)
    assert r.exit_code == 1
    assert _count(db_url, select(func.count()).select_from(CareOccasion)) == 2
    r = outreach("member", "contribution", "O1", "--kind", "teaching", "--date", "2026-11-01",
                 "--note", "calligraphy class", code=coord)
    assert r.exit_code == 0 and "teaching on 2026-11-01" in r.stdout
    r = outreach("member", "contribution", "O1", "--kind", "teaching", "--date", "2099-01-01",
                 code=coord)
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    r = outreach("member", "contribution", "O1", "--kind", "teaching", "--date", "2026-11-01",
                 code=vol)
    assert r.exit_code == 1
    r = outreach("member", "show", "O1", code=coord)
    assert "2026-11-01  teaching  calligraphy class" in r.stdout


def test_an_import_that_sends_a_member_away_records_the_movement(db_url, tmp_path):
    coord, _vol = bootstrap()
    _ledger(tmp_path, coord)
    _ledger(tmp_path, coord, away="away")
    assert _count(db_url, select(func.count()).select_from(Movement)
                  .where(Movement.kind == "away", Movement.source == "import")) == 1
