"""What volunteers and coordinators see: task lists, JSON for scripts, one task's card."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy.orm import object_session

from outreach.db.errors import BadInput, NotFound, Refused
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import CampaignKind, Member, Residence
from outreach.tasks.work import outcomes as oc
from outreach.tasks.access.permissions import Actor
from outreach.cli.volunteer import render_card
from outreach.tasks.work.worklist import list_tasks, task_view, to_json
from tests.db import factories as f

K = CampaignKind
TODAY = dt.date(2026, 11, 10)
DAY = dt.timedelta(days=1)


def task_card(session, **kw) -> str:
    """The card as `outreach task show` prints it: the view of `tasks`, rendered by `cli`."""
    return render_card(task_view(session, **kw))


def actor(v) -> Actor:
    """The volunteer as an actor, through `authenticate` (tests.db.factories.actor)."""
    return f.actor(object_session(v), v)


@pytest.fixture
def w(session):
    """Two branches (south under north), two volunteers, a coordinator, tasks of each."""
    class W:
        pass

    x = W()
    x.north = f.branch(session, name=f"North-{id(x)}")
    x.south = f.branch(session, name=f"South-{id(x)}", parent=x.north)
    x.east = f.branch(session, name=f"East-{id(x)}")
    x.ann = f.volunteer(session, branch_=x.north, name="Ann")
    x.bob = f.volunteer(session, branch_=x.south, name="Bob")
    x.coord = f.coordinator(session, branch_=x.north)
    calls = f.campaign_run(session, campaign_=f.campaign(session, kind=K.PHONE_VISIT))
    drops = f.campaign_run(session, campaign_=f.campaign(session, kind=K.DELIVERY))

    def t(state, vol, due, run=calls, branch=x.north, **member):
        m = f.member(session, branch_=branch, **member)
        return f.task_in(session, state, member_=m, run=run, volunteer_=vol, due_on=due)

    x.ann_late = t(TS.ASSIGNED, x.ann, TODAY - 3 * DAY, phone="555 0101",
                   home_address="1 Home Street")
    x.ann_today = t(TS.ASSIGNED, x.ann, TODAY, run=drops, phone="555 0102",
                    home_address="2 Home Street")
    x.ann_later = t(TS.ASSIGNED, x.ann, TODAY + 5 * DAY, phone="555 0103",
                    home_address="3 Home Street", residence=Residence.AWAY,
                    current_address="9 Far Road, Springfield")
    x.ann_done = t(TS.DONE, x.ann, TODAY - 9 * DAY, phone="555 0104")
    x.bob_task = t(TS.ASSIGNED, x.bob, TODAY - DAY, branch=x.south, phone="555 0105")
    x.nobodys = t(TS.OPEN, None, TODAY - 2 * DAY, branch=x.south)
    x.east_task = t(TS.ASSIGNED, x.bob, TODAY + DAY, branch=x.east)
    return x


def ids(rows) -> list[int]:
    return [r["id"] for r in rows]


# --- list_tasks ---------------------------------------------------------------------------


def test_a_volunteer_sees_their_own_open_tasks_by_due_date(session, w):
    rows = list_tasks(session, actor=actor(w.ann), today=TODAY)
    assert ids(rows) == [w.ann_late.id, w.ann_today.id, w.ann_later.id]
    assert [r["overdue"] for r in rows] == [True, False, False]
    assert [r["kind"] for r in rows] == ["phone_visit", "delivery", "phone_visit"]
    assert all(r["volunteer_id"] == w.ann.id and r["status"] == "assigned" for r in rows)
    assert rows[0]["branch"] == w.north.name and rows[0]["due"] == "2026-11-07"
    assert all("phone" not in r and "address" not in r for r in rows)
    # the same list a week later: everything due by then is overdue
    later = list_tasks(session, actor=actor(w.ann), today=TODAY + 7 * DAY)
    assert [r["overdue"] for r in later] == [True, True, True]


def test_attempts_and_next_attempt_show_in_the_list(session, w):
    oc.record_outcome(session, task_id=w.ann_late.id, outcome="no_answer", actor=actor(w.ann),
                      today=TODAY)
    [row] = [r for r in list_tasks(session, actor=actor(w.ann), today=TODAY)
             if r["id"] == w.ann_late.id]
    assert row["attempts"] == 1 and row["next_attempt"] == "2026-11-12"


@pytest.mark.parametrize("kw", [{"all_": True}, {"branch": "North"}, {"volunteer_id": 1}])
def test_filters_over_other_peoples_work_need_a_coordinator(session, w, kw):
    if "branch" in kw:
        kw = {"branch": w.north.name}
    with pytest.raises(Refused, match="coordinator"):
        list_tasks(session, actor=actor(w.ann), today=TODAY, **kw)


def test_a_coordinator_lists_and_filters_everyones_tasks(session, w):
    c = actor(w.coord)
    open_ids = {w.ann_late.id, w.ann_today.id, w.ann_later.id, w.bob_task.id, w.nobodys.id,
                w.east_task.id}
    everyone = list_tasks(session, actor=c, all_=True, today=TODAY)
    assert set(ids(everyone)) >= open_ids and w.ann_done.id not in ids(everyone)
    dues = [r["due"] for r in everyone]
    assert dues == sorted(dues)
    assert list_tasks(session, actor=c, today=TODAY) == []  # their own: none yet
    north = list_tasks(session, actor=c, branch=w.north.name, today=TODAY)
    assert set(ids(north)) == open_ids - {w.east_task.id}  # south is under north
    south = list_tasks(session, actor=c, branch=w.south.name, today=TODAY)
    assert set(ids(south)) == {w.bob_task.id, w.nobodys.id}
    bob = list_tasks(session, actor=c, volunteer_id=w.bob.id, today=TODAY)
    assert set(ids(bob)) == {w.bob_task.id, w.east_task.id}
    assert list_tasks(session, actor=c, volunteer_id=2**40, today=TODAY) == []
    drops = list_tasks(session, actor=c, all_=True, kind="delivery", today=TODAY)
    assert set(ids(drops)) >= {w.ann_today.id} and all(r["kind"] == "delivery" for r in drops)
    done = list_tasks(session, actor=c, volunteer_id=w.ann.id, status="done", today=TODAY)
    assert ids(done) == [w.ann_done.id] and done[0]["overdue"] is False
    opened = list_tasks(session, actor=c, branch=w.south.name, status="open", today=TODAY)
    assert ids(opened) == [w.nobodys.id] and opened[0]["volunteer_id"] is None
    assert len(list_tasks(session, actor=c, branch=w.north.name, today=TODAY, limit=2)) == 2


@pytest.mark.parametrize("kw,fragment", [({"status": "finished"}, "unknown status"),
                                         ({"kind": "visit"}, "unknown kind"),
                                         ({"branch": "Atlantis"}, "no branch")])
def test_bad_filters_are_bad_input(session, w, kw, fragment):
    with pytest.raises(BadInput, match=fragment):
        list_tasks(session, actor=actor(w.coord), all_=True, today=TODAY, **kw)


def test_json_for_scripts(session, w):
    rows = list_tasks(session, actor=actor(w.coord), branch=w.south.name, today=TODAY)
    data = json.loads(to_json(rows))
    assert isinstance(data, list) and len(data) == 2
    for obj in data:
        assert {"id", "kind", "status", "member_id", "volunteer_id", "due", "attempts"} <= \
            set(obj)
        assert type(obj["id"]) is int and type(obj["member_id"]) is int
        assert type(obj["attempts"]) is int
        assert obj["volunteer_id"] is None or type(obj["volunteer_id"]) is int
        assert dt.date.fromisoformat(obj["due"])
        assert "phone" not in obj and "address" not in obj
    by_id = {o["id"]: o for o in data}
    assert by_id[w.bob_task.id]["volunteer_id"] == w.bob.id
    assert by_id[w.nobodys.id] == {**by_id[w.nobodys.id], "status": "open",
                                   "volunteer_id": None, "overdue": True}
    assert "555 01" not in to_json(rows)


def test_contacts_only_when_asked_and_the_current_address_when_away(session, w):
    rows = {r["id"]: r for r in list_tasks(session, actor=actor(w.ann), today=TODAY,
                                           contacts=True)}
    assert rows[w.ann_late.id]["phone"] == "555 0101"
    assert rows[w.ann_late.id]["address"] == "1 Home Street"
    assert rows[w.ann_later.id]["address"] == "9 Far Road, Springfield"


def test_a_volunteer_gets_no_contacts_for_closed_tasks(session, w):
    rows = list_tasks(session, actor=actor(w.ann), status="done", today=TODAY, contacts=True)
    assert ids(rows) == [w.ann_done.id]
    assert rows[0]["phone"] == "" and rows[0]["address"] == ""
    coord = list_tasks(session, actor=actor(w.coord), volunteer_id=w.ann.id, status="done",
                       today=TODAY, contacts=True)
    assert coord[0]["phone"] == "555 0104"


# --- task_card ----------------------------------------------------------------------------


def test_a_volunteer_sees_the_card_of_their_own_open_task(session, w):
    m = session.get(Member, w.ann_later.member_id)
    m.family_contact_name, m.family_contact_phone, m.needs = "Carl", "555 0900", "large print"
    oc.record_outcome(session, task_id=w.ann_later.id, outcome="no_answer",
                      actor=actor(w.ann), note="rang at noon", today=TODAY)
    card = task_card(session, task_id=w.ann_later.id, actor=actor(w.ann))
    assert f"task {w.ann_later.id}" in card and m.name in card and w.north.name in card
    assert "555 0103" in card
    assert "9 Far Road, Springfield" in card and "lives away" in card
    assert "3 Home Street" not in card
    assert "Carl" in card and "555 0900" in card and "large print" in card
    assert "no_answer" in card and "rang at noon" in card
    assert "attempts      1 of 3" in card
    local = task_card(session, task_id=w.ann_late.id, actor=actor(w.ann))
    assert "1 Home Street" in local and "lives away" not in local


def test_someone_elses_task_card_is_refused(session, w):
    with pytest.raises(Refused, match="not yours") as info:
        task_card(session, task_id=w.bob_task.id, actor=actor(w.ann))
    assert "555 01" not in str(info.value)
    with pytest.raises(Refused):
        task_card(session, task_id=w.nobodys.id, actor=actor(w.ann))


def test_a_closed_task_card_is_refused_to_its_volunteer(session, w):
    with pytest.raises(Refused, match="done") as info:
        task_card(session, task_id=w.ann_done.id, actor=actor(w.ann))
    assert "555 01" not in str(info.value)
    oc.record_outcome(session, task_id=w.ann_today.id, outcome="delivered", actor=actor(w.ann),
                      today=TODAY)
    with pytest.raises(Refused):
        task_card(session, task_id=w.ann_today.id, actor=actor(w.ann))


def test_a_coordinator_sees_any_card(session, w):
    c = actor(w.coord)
    assert "555 0104" in task_card(session, task_id=w.ann_done.id, actor=c)
    assert "555 0105" in task_card(session, task_id=w.bob_task.id, actor=c)
    card = task_card(session, task_id=w.nobodys.id, actor=c)
    assert "volunteer     -" in card and "open" in card


@pytest.mark.parametrize("bad", [0, -1, 10**6, 2**31, 2**63, 10**20])
def test_an_unknown_task_card_is_not_found(session, w, bad):
    with pytest.raises(NotFound):
        task_card(session, task_id=bad, actor=actor(w.ann))


def test_an_escalation_card_says_what_to_do(session, w):
    m = f.member(session, branch_=w.north, failed_contacts=2, status="active")
    t = f.task(session, member_=m, status=TS.ASSIGNED, volunteer_=w.ann)
    res = oc.record_outcome(session, task_id=t.id, outcome="no_answer", actor=actor(w.ann),
                            today=TODAY)
    card = task_card(session, task_id=res.escalation_task_id, actor=actor(w.coord))
    assert "call the family contact" in card and "escalation" in card
    with pytest.raises(Refused):
        task_card(session, task_id=res.escalation_task_id, actor=actor(w.ann))
