"""Importing a results file: good rows applied, bad rows reported by line, nothing twice."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from outreach.db.errors import BadInput
from outreach.db.machines import MemberStatus as MS
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    Attempt,
    CampaignKind,
    Member,
    OutreachTask,
    Residence,
    TaskStatusChange,
)
from outreach.tasks.access.permissions import Actor
from outreach.tasks.work.results import apply_results, load_results_file, read_results
from outreach.tasks.work.worklist import SHEET_FIELDS, list_tasks, sheet_rows
from tests.db import factories as f

K = CampaignKind
TODAY = dt.date(2026, 11, 2)
BAD_PHONE = "555-0199 ask for Bob"


def actor(v) -> Actor:
    """The volunteer as an actor, through `authenticate` (tests.db.factories.actor)."""
    return f.actor(object_session(v), v)


@pytest.fixture
def w(session):
    """A coordinator and a volunteer of one branch, and tasks of each kind for her."""
    b = f.branch(session)
    vol = f.volunteer(session, branch_=b)
    coord = f.coordinator(session, branch_=b)
    runs = {k: f.campaign_run(session, campaign_=f.campaign(session, kind=k, retry_days=2))
            for k in (K.PHONE_VISIT, K.SURVEY, K.DELIVERY)}

    def task(kind=K.PHONE_VISIT, **member):
        return f.task(session, member_=f.member(session, branch_=b, **member), run=runs[kind],
                      status=TS.ASSIGNED, volunteer_=vol, due_on=TODAY)

    class W:
        pass

    out = W()
    out.branch, out.vol, out.coord, out.task = b, vol, coord, task
    return out


def member_of(session, task) -> Member:
    return session.get(Member, task.member_id)


def attempts(session) -> int:
    return session.scalar(select(func.count()).select_from(Attempt))


def history(session) -> int:
    return session.scalar(select(func.count()).select_from(TaskStatusChange))


def run(session, text: str | bytes, who: Actor, today=TODAY):
    data = text.encode() if isinstance(text, str) else text
    return apply_results(session, read_results(data), actor=who, today=today)


def test_good_rows_are_applied_and_bad_rows_reported_by_line(session, w):
    call, call2, done_later = w.task(), w.task(), w.task()
    survey = w.task(K.SURVEY, phone="555 0100", home_address="1 Old Street")
    survey2 = w.task(K.SURVEY)
    delivery = w.task(K.DELIVERY)
    text = (
        "task_id,outcome,note,answers,date\n"                                    # 1
        f"{call.id},reached,had tea,,\n"                                          # 2 ok
        "999999,no_answer,,,\n"                                                   # 3 unknown
        f"{call2.id},reachd,,,\n"                                                 # 4 bad code
        f"{delivery.id},no_answer,,,\n"                                           # 5 not fitting
        f"{survey2.id},reached,,\"phone={BAD_PHONE}; address=same; residence=local; "
        "homebound=no\",\n"                                                       # 6 bad phone
        "twelve,no_answer,,,\n"                                                   # 7 not a number
        f"{call2.id},no_answer,,,2026-13-01\n"                                    # 8 bad date
        "\n"                                                                      # 9 blank
        f"{survey.id},reached,\"two lines\nof note\","                            # 10-11 ok
        "\"phone=555 0199; address=9 Far Road; residence=away; homebound=no\",\n"
        f"{delivery.id},not_home,,,2026-10-30\n"                                  # 12 ok
        f"{survey2.id},reached,,\"phone; address\",\n"                            # 13 malformed
        f"{done_later.id},,,,\n"                                                  # 14 no outcome
        f"{survey2.id},reached,,,\n"                                              # 15 missing
    )
    rep = run(session, text, actor(w.coord))
    assert rep.applied == 3 and rep.duplicates == 0
    assert rep.by_outcome == {"reached": 2, "not_home": 1}
    lines = [p.split(":", 1)[0] for p in rep.problems]
    assert lines == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 13",
                     "line 14", "line 15"], rep.problems
    by_line = dict(p.split(": ", 1) for p in rep.problems)
    assert "no task with id 999999" in by_line["line 3"]
    assert "unknown outcome" in by_line["line 4"]
    assert "does not fit a delivery task" in by_line["line 5"]
    assert "phone is not a phone number" in by_line["line 6"]
    assert "not a task id" in by_line["line 7"]
    assert "YYYY-MM-DD" in by_line["line 8"]
    assert "KEY=VALUE" in by_line["line 13"]
    assert "needs answers" in by_line["line 15"]
    assert BAD_PHONE not in " ".join(rep.problems) and "Bob" not in " ".join(rep.problems)

    assert call.status == TS.DONE and call.outcome == "reached"
    assert call2.attempts == 0 and call2.status == TS.ASSIGNED
    surveyed = member_of(session, survey)
    assert survey.status == TS.DONE and surveyed.status == MS.ACTIVE
    assert surveyed.residence == Residence.AWAY
    assert (surveyed.current_address, surveyed.phone) == ("9 Far Road", "555 0199")
    assert survey2.status == TS.ASSIGNED and member_of(session, survey2).confirmed_on is None
    assert (delivery.attempts, delivery.next_attempt_on) == (1, dt.date(2026, 11, 1))
    got = {a.task_id: a for a in session.scalars(select(Attempt))}
    assert set(got) == {call.id, survey.id, delivery.id}
    assert got[call.id].recorded_on == TODAY and got[call.id].note == "had tea"
    assert got[delivery.id].recorded_on == dt.date(2026, 10, 30)
    assert got[survey.id].note == "two lines\nof note"
    assert all(a.recorded_by == w.coord.id and a.volunteer_id == w.vol.id
               for a in got.values())


def test_the_same_file_twice_applies_nothing_the_second_time(session, w):
    t1, t2, t3 = w.task(), w.task(), w.task(K.DELIVERY)
    text = ("task_id,outcome,note,answers\n"
            f"{t1.id},no_answer,,\n"
            f"{t1.id},no_answer,,\n"          # a second identical attempt in the same file
            f"{t2.id},left_message,,\n"
            f"{t3.id},delivered,at the door,\n"
            f"{t3.id},nonsense,,\n")
    first = run(session, text, actor(w.vol))
    assert (first.applied, first.duplicates, len(first.problems)) == (4, 0, 1)
    assert t1.attempts == 2
    before = (attempts(session), history(session))
    second = run(session, text, actor(w.vol))
    assert (second.applied, second.duplicates) == (0, 4)
    assert second.problems == first.problems
    assert (attempts(session), history(session)) == before
    assert (t1.attempts, t2.attempts, t3.status) == (2, 1, TS.DONE)
    # a later, longer copy of the file: only the new row counts
    third = run(session, text + f"{t1.id},no_answer,,\n", actor(w.vol))
    assert (third.applied, third.duplicates) == (1, 4)
    assert t1.status == TS.FAILED and t1.attempts == 3


def test_a_corrected_copy_applies_only_the_fixed_rows(session, w):
    t1, t2, t3 = w.task(), w.task(), w.task(K.SURVEY)
    bad = ("task_id,outcome,note,answers\n"
           f"{t1.id},no_answer,,\n"
           f"{t2.id},reachd,,\n"
           f"{t3.id},reached,,phone=same\n")
    first = run(session, bad, actor(w.coord))
    assert first.applied == 1 and [p[:6] for p in first.problems] == ["line 3", "line 4"]
    fixed = bad.replace("reachd", "reached").replace(
        "phone=same", "phone=same; address=same; residence=same; homebound=no")
    second = run(session, fixed, actor(w.coord))
    assert (second.applied, second.duplicates, second.problems) == (2, 1, [])
    assert (t1.attempts, t1.status) == (1, TS.ASSIGNED)
    assert t2.status == TS.DONE and t3.status == TS.DONE
    assert attempts(session) == 3


def test_a_filled_in_run_sheet_imports_as_it_is(session, w):
    t1 = w.task(K.DELIVERY, phone="555 0100", home_address="1 Old Street")
    t2 = w.task(K.DELIVERY, phone="555 0101", home_address="2 Old Street")
    rows = sheet_rows(list_tasks(session, actor=actor(w.vol), today=TODAY, contacts=True))
    assert [r["task_id"] for r in rows] == [t1.id, t2.id]
    rows[0].update(outcome="delivered", note="left with her")
    rows[1].update(outcome="not_home")
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=SHEET_FIELDS, lineterminator="\r\n")
    out.writeheader()
    out.writerows(rows)
    assert "555 0100" in buf.getvalue()  # the sheet carries contact columns …
    rep = run(session, buf.getvalue(), actor(w.vol))
    assert (rep.applied, rep.problems) == (2, [])  # … which the import ignores
    assert t1.status == TS.DONE and t2.attempts == 1
    assert member_of(session, t1).phone == "555 0100"


def test_answers_as_json_and_a_byte_order_mark(session, w):
    t = w.task(K.SURVEY)
    answers = json.dumps({"phone": "555 0199", "address": "1 New Street",
                          "residence": "local", "homebound": "yes"})
    cell = '"' + answers.replace('"', '""') + '"'
    data = ("\ufefftask_id,outcome,note,answers\r\n" f"{t.id},reached,,{cell}\r\n").encode()
    rep = run(session, data, actor(w.vol))
    assert (rep.applied, rep.problems) == (1, [])
    m = member_of(session, t)
    assert m.homebound is True and m.home_address == "1 New Street"


@pytest.mark.parametrize("cell,fragment", [("{not json", "not valid JSON"),
                                           ("[1, 2]", "KEY=VALUE"),
                                           ('{"shoe": "9"}', "does not fit")])
def test_bad_answer_cells_are_reported(session, w, cell, fragment):
    t = w.task(K.SURVEY)
    quoted = '"' + cell.replace('"', '""') + '"'
    rep = run(session, f"task_id,outcome,note,answers\n{t.id},reached,,{quoted}\n",
              actor(w.vol))
    assert rep.applied == 0 and len(rep.problems) == 1
    assert rep.problems[0].startswith("line 2: ") and fragment in rep.problems[0]


@pytest.mark.parametrize("raw", ["²", "١٢", "-3", "1.0", "9" * 40, " "])
def test_odd_task_ids_are_reported_not_crashed_on(session, w, raw):
    t = w.task()
    rep = run(session, f"task_id,outcome\n{raw},no_answer\n{t.id},no_answer\n", actor(w.vol))
    assert rep.applied == 1
    assert len(rep.problems) == 1 and rep.problems[0].startswith("line 2: ")


def test_someone_elses_task_is_reported(session, w):
    t = w.task()
    other = f.volunteer(session, branch_=w.branch)
    rep = run(session, f"task_id,outcome\n{t.id},no_answer\n", actor(other))
    assert rep.applied == 0 and "not yours" in rep.problems[0]
    assert t.attempts == 0


def test_a_row_that_makes_a_member_unreachable_counts_an_escalation(session, w):
    t = w.task(failed_contacts=2, status=MS.ACTIVE)
    rep = run(session, f"task_id,outcome\n{t.id},no_answer\n", actor(w.vol))
    assert rep.escalations == 1 and member_of(session, t).status == MS.UNREACHABLE
    assert session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.kind == K.ESCALATION, OutreachTask.member_id == t.member_id)) == 1


@pytest.mark.parametrize("data,fragment", [
    ("task_id,outcome\n1,r\xe9ached\n".encode("latin-1"), "not UTF-8"),
    (b"", "empty"),
    (b"\xef\xbb\xbf", "empty"),
    (b"id,outcome\n1,reached\n", "lacks task_id"),
    (b"task_id,result\n1,reached\n", "lacks outcome"),
    (b'task_id,outcome\n1,"reached\n2,no_answer\n', "line 2: unexpected end"),
    (b'task_id,outcome\n1,reached\n2,"no"_answer\n', "line 3"),
])
def test_files_that_are_not_results_are_refused(data, fragment):
    with pytest.raises(BadInput, match=fragment):
        read_results(data)


def test_line_numbers_count_blank_lines_and_multiline_cells():
    data = b'task_id,outcome,note\n\n1,a,"x\ny"\n\n\n2,b,\n,,\n3,c\n'
    assert [(line, r["task_id"]) for line, r in read_results(data)] == \
        [(3, "1"), (7, "2"), (9, "3")]


def test_load_results_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        load_results_file(tmp_path / "missing.csv")
    p = tmp_path / "r.csv"
    p.write_bytes(b"task_id,outcome\n7,reached\n")
    assert load_results_file(p) == [(2, {"task_id": "7", "outcome": "reached"})]


def test_a_file_applied_in_chunks_keys_its_rows_as_a_whole(session, w):
    """The flow applies big files in chunks: identical rows are numbered over the whole
    file, so the second of two identical rows is not mistaken for a replay of the first."""
    t1 = w.task()
    rows = read_results(("task_id,outcome,note,answers\n"
                         f"{t1.id},no_answer,,\n{t1.id},no_answer,,\n").encode())
    first = apply_results(session, rows, actor=actor(w.vol), today=TODAY, start=0, stop=1)
    second = apply_results(session, rows, actor=actor(w.vol), today=TODAY, start=1, stop=2)
    assert (first.applied, second.applied, second.duplicates) == (1, 1, 0)
    assert t1.attempts == 2
    again = apply_results(session, rows, actor=actor(w.vol), today=TODAY)
    assert (again.applied, again.duplicates) == (0, 2)


def test_a_later_run_sheet_with_the_same_outcome_is_a_new_attempt(session, w):
    """A run sheet's attempts column tells next week's no_answer from a replayed row."""
    t1 = w.task()
    sheet = "task_id,attempts,outcome,note,answers\n{id},{n},no_answer,,\n"
    assert run(session, sheet.format(id=t1.id, n=0), actor(w.vol)).applied == 1
    assert run(session, sheet.format(id=t1.id, n=0), actor(w.vol)).duplicates == 1
    assert run(session, sheet.format(id=t1.id, n=1), actor(w.vol)).applied == 1
    assert t1.attempts == 2


def test_problems_never_show_a_phone_or_address_from_the_file(session, w):
    """Problem lines go to a Prefect artifact: cells that are not codes are withheld."""
    t1 = w.task()
    rep = run(session, "task_id,outcome,note,answers\n"
                       "555 0199,no_answer,,\n"
                       f"{t1.id},12 Elm Street,,\n"
                       f"{t1.id},moved,,phone 555 0199\n", actor(w.vol))
    text = "\n".join(rep.problems)
    assert len(rep.problems) == 3
    assert "555 0199" not in text and "Elm" not in text


def test_rows_dated_in_the_future_or_before_their_task_are_reported(session, w):
    """Issue 11, defect 7: a results row dated 2099 took the member out of every campaign."""
    from outreach.tasks.kernel.rules import real_today

    late, early, ok, tz = w.task(), w.task(), w.task(), w.task()
    early.created_at = dt.datetime(2026, 11, 1, 8, 0)
    tomorrow = real_today() + dt.timedelta(days=1)
    text = ("task_id,outcome,note,answers,date\n"
            f"{late.id},reached,,,2099-01-01\n"
            f"{early.id},no_answer,,,2026-10-31\n"
            f"{ok.id},no_answer,,,2026-11-01\n"
            f"{tz.id},no_answer,,,{tomorrow}\n")   # a day ahead: time zones
    rep = run(session, text, actor(w.coord))
    by_line = dict(p.split(": ", 1) for p in rep.problems)
    assert set(by_line) == {"line 2", "line 3"} and rep.applied == 2
    assert "in the future" in by_line["line 2"]
    assert "before the task existed" in by_line["line 3"]
    assert member_of(session, late).last_reached_on is None and late.status == TS.ASSIGNED
    assert (early.attempts, ok.attempts, tz.attempts) == (0, 1, 1)


def test_a_future_day_for_the_whole_file_is_refused_before_any_row(session, w):
    t = w.task()
    with pytest.raises(BadInput, match="in the future"):
        run(session, f"task_id,outcome\n{t.id},no_answer\n", actor(w.coord),
            today=dt.date(2099, 1, 1))
    assert attempts(session) == 0


def test_answers_in_a_file_follow_the_same_rules_as_typed_ones(session, w):
    """Issue 11, defect 6: ``phone=none`` is refused (it stored "none"); ``none`` clears an
    optional field; yes/no as the ledger import takes it (y/n too)."""
    s1 = w.task(K.SURVEY, phone="555 0100")
    s2 = w.task(K.SURVEY, phone="555 0100", family_contact_phone="555 0111", needs="a ramp")
    text = ("task_id,outcome,note,answers\n"
            f"{s1.id},reached,,phone=none; address=same; residence=local; homebound=no\n"
            f"{s2.id},reached,,phone=same; address=same; residence=local; homebound=Y; "
            "family_contact_phone=none; needs=NONE\n")
    rep = run(session, text, actor(w.coord))
    assert rep.applied == 1 and len(rep.problems) == 1
    assert rep.problems[0].startswith("line 2: answer phone cannot be 'none'")
    m1, m2 = member_of(session, s1), member_of(session, s2)
    assert m1.phone == "555 0100" and s1.status == TS.ASSIGNED
    assert (m2.phone, m2.homebound, m2.family_contact_phone, m2.needs) == \
        ("555 0100", True, None, None)
