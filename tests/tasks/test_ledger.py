"""Reading ledger files: hostile and odd input is refused with its line, never crashes."""

from __future__ import annotations

import pytest

from outreach.db.errors import BadInput
from outreach.tasks.ledger.book import COLUMNS, LedgerFileError, read_ledger

HEADER = ",".join(COLUMNS)


def read(text: str | bytes):
    import io

    return read_ledger(io.BytesIO(text.encode() if isinstance(text, str) else text))


def test_good_rows_parse_with_types():
    rows = read(HEADER + "\nA1,Mary,1940-02-03,555,North,AWAY,,x,Yes,,\n\nA2,Li,,,South,,,,0,,\n")
    assert [r["ledger_no"] for r in rows] == ["A1", "A2"]
    assert rows[0]["homebound"] is True and str(rows[0]["residence"]) == "away"
    assert rows[1]["_line"] == 4, "blank lines count"


@pytest.mark.parametrize("body, fragment", [
    ('A1,"Mary\n', "line 2"),                                   # quote never closed
    ("A1," + "x" * 70_000 + ",,,North,,,,,,", "line 2"),        # huge field
    ("A1,Mary\x07Bell,,,North,,,,,,", "control characters"),    # a bell in a name
    ("A1,Mary,1940-02-30,,North,,,,,,", "not a date"),          # absurd date
    ("A1,Mary,0001-01-01,,North,,,,,,", "not a possible"),
    ("A1,Mary,2999-01-01,,North,,,,,,", "not a possible"),          # after 2100
    ("A1,Mary,,,North,,,,maybe,,", "homebound must be yes or no"),
    ("A1,Mary,,555-CALL-NOW,North,,,,,,", "phone"),
])
def test_hostile_rows_are_refused_by_line(body, fragment):
    with pytest.raises(LedgerFileError) as err:
        read(HEADER + "\n" + body + "\n")
    assert fragment in str(err.value) and "nothing was imported" in str(err.value)


def test_not_text_is_refused():
    with pytest.raises(BadInput, match="not UTF-8"):
        read(b"\xff\xfe" + HEADER.encode("utf-16-le"))
    with pytest.raises(BadInput, match="NUL"):
        read(HEADER + "\nA1,Ma\x00ry,,,North,,,,,,\n")
    with pytest.raises(BadInput, match="empty"):
        read("")


def test_sql_like_names_are_just_names():
    rows = read(HEADER + "\nA1,\"Robert'); DROP TABLE members;--\",,,North,,,,,,\n")
    assert rows[0]["name"] == "Robert'); DROP TABLE members;--"


def test_a_shifted_row_does_not_echo_contact_details():
    """Columns slipped by one: an address lands in residence, a phone in homebound; the
    refusal names the columns but never shows what is in them."""
    with pytest.raises(LedgerFileError) as err:
        read(HEADER + "\nA1,Mary,,,North,12 Elm Street,,,555 0199,,\n")
    text = str(err.value)
    assert "residence" in text and "homebound" in text
    assert "Elm" not in text and "555 0199" not in text


# --- export → import gives back exactly what was stored (issue 11, defect 12) ---------------

TRICKY = ["'-1 Dock Rd", "'=1+1", "''", "'", "''-x", "=SUM(A1)", "-1 Dock Rd", "+44 road",
          "@home", "-", "'hello", "plain", "it's", "\tindented", "=", "'@x", "'+1"]


@pytest.mark.parametrize("value", TRICKY)
def test_a_cell_reads_back_as_what_was_written(value):
    from outreach.tasks.kernel.csvfile import cell_value, safe_cell

    cell = safe_cell(value)
    assert cell_value(cell) == value
    if cell[:1] in ("=", "+", "-", "@") and cell != "-":
        pytest.fail(f"{value!r} is written as a formula: {cell!r}")


def test_a_phone_keeps_its_plus_and_reads_back():
    from outreach.tasks.kernel.csvfile import cell_value, safe_cell

    assert safe_cell("+1 555 0100", phone=True) == "+1 555 0100"
    assert cell_value(safe_cell("+1 555 0100", phone=True)) == "+1 555 0100"


def _export(session, coord) -> str:
    import io

    from outreach.tasks.ledger.book import export_ledger

    out = io.StringIO()
    export_ledger(session, out, actor=coord)
    return out.getvalue()


@pytest.mark.parametrize("address", ["'-1 Dock Rd", "''=x", "'", "=1+1", "-1 Dock Rd", "@home",
                                     "'plain"])
def test_export_then_import_gives_back_exactly_what_was_stored(session, address):
    from outreach.db.models import Member
    from outreach.tasks.ledger.book import import_ledger
    from tests.db import factories as f

    coord = f.actor(session, f.coordinator(session))
    m = f.member(session, home_address=address, current_address=address,
                 family_contact_name=address)
    text = _export(session, coord)
    rows = [r for r in read(text) if r["ledger_no"] == m.ledger_no]
    assert rows[0]["home_address"] == address
    res = import_ledger(session, rows, actor=coord)
    assert (res.updated, res.unchanged) == (0, 1)
    session.refresh(m)
    assert (m.home_address, m.current_address, m.family_contact_name) == (address,) * 3
    assert session.get(Member, m.id).home_address == address


# --- open tasks follow a member moved to another branch (issue 11, defect 11) ----------------


def test_a_member_moved_by_import_takes_their_open_tasks_along(session):
    from sqlalchemy import select

    from outreach.db.machines import TaskStatus as TS
    from outreach.db.models import CampaignKind, TaskStatusChange
    from outreach.tasks.ledger.book import import_ledger
    from tests.db import factories as f

    region = f.branch(session, name="Region-11")
    old, new = f.branch(session, name="Old-11"), f.branch(session, name="New-11", parent=region)
    coord = f.actor(session, f.coordinator(session, branch_=region))
    old_v = f.volunteer(session, branch_=old)
    old_c = f.coordinator(session, branch_=old)
    region_v = f.volunteer(session, branch_=region)
    m = f.member(session, branch_=old, name="Moving Mary")
    other = f.member(session, branch_=old)
    t_old = f.task(session, member_=m, status=TS.ASSIGNED, volunteer_=old_v)
    t_region = f.task(session, member_=m, status=TS.ASSIGNED, volunteer_=region_v)
    esc_run = f.campaign_run(session, campaign_=f.campaign(session, kind=CampaignKind.ESCALATION))
    t_esc = f.task(session, member_=m, run=esc_run, status=TS.ASSIGNED, volunteer_=old_c)
    t_other = f.task(session, member_=other, status=TS.ASSIGNED, volunteer_=old_v)
    row = dict(ledger_no=m.ledger_no, name=m.name, birth_date=None, phone=None,
               branch="New-11", residence=m.residence, home_address=None,
               current_address=None, homebound=False, family_contact_name=None,
               family_contact_phone=None)
    res = import_ledger(session, [row], actor=coord)
    assert res.released == 2
    for t in (t_old, t_region, t_esc, t_other):
        session.refresh(t)
    # the old branch's volunteer and coordinator let go: open again, for the new branch
    assert (t_old.status, t_old.volunteer_id) == (TS.OPEN, None)
    assert (t_esc.status, t_esc.volunteer_id) == (TS.OPEN, None)
    assert "moved to another branch" in t_old.status_reason
    last = session.scalars(select(TaskStatusChange).where(TaskStatusChange.task_id == t_old.id)
                           .order_by(TaskStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status) == (TS.ASSIGNED, TS.OPEN)
    # a volunteer of a branch above the new one still covers the member; others untouched
    assert (t_region.status, t_region.volunteer_id) == (TS.ASSIGNED, region_v.id)
    assert (t_other.status, t_other.volunteer_id) == (TS.ASSIGNED, old_v.id)
