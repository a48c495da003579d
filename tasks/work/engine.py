"""The task engine for work that comes from a meeting: notices before it, make-up study after.

Organisational life (`tasks.meetings.meetings`) hands the engine a set of members; the engine makes
one task each in the meeting's run and assigns them by the same rule as planning
(`tasks.work.assign.match`: continuity, own branch then up the tree, least loaded first,
capacity, only role ``volunteer``), set-based like `tasks.campaigns.plan_jobs.plan_range`: one SELECT of the
members, `match` in Python over plain ints, the picks into the temporary table, ONE
``INSERT … SELECT``. Nothing but ids leaves the database.

Transactions: the functions here take a Session and flush; they run in the caller's
transaction (``session.connection()``), so a meeting closed and its make-up tasks created
commit together or not at all. On PostgreSQL `give_tasks` takes the planners' advisory
lock (`tasks.work.assign.ASSIGN_LOCK`) for the rest of that transaction, so a concurrent planner
never hands out the same free slot.

Speed (one call over a held meeting's 100,000 absent members, 500 volunteers with room for
half of them, 2 shared cores, one run each): SQLite 1.38 s against 0.77 s for a raw
``INSERT … SELECT`` of the same tasks as open ones (1.8×; the temp table's executemany is
0.3 s of it), PostgreSQL 3.8 s against 3.1 s (1.2×); a rerun that creates nothing 0.06 s.

Internal engine steps: no actor. The guarded functions that call them (`tasks.meetings.meetings`)
check the coordinator; nothing here shows a member's contact details.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.db.dialect import fetch, lock
from outreach.db.errors import BadInput, NotFound
from outreach.db.models import Campaign, CampaignKind, CampaignRun, Meeting
from outreach.db.state import first_or_add
from outreach.i18n import N_, _
from outreach.tasks.work import rules as work_rules
from outreach.tasks.kernel import rules
from outreach.tasks.ledger import tree
from outreach.tasks.work.assign import (ASSIGN_LOCK, CONTACTABLE_SQL, insert_tasks, match,
                                       volunteers_with_room, write_picks)

#: The kinds a campaign plans (`tasks.campaigns.plan`).
PLANNED_KINDS = (CampaignKind.SURVEY, CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY)
#: Kinds whose open tasks `assign_open` hands out by the same rule: the planned ones and a
#: meeting's notices and make-up study (`tasks.work.engine`); escalations go to coordinators.
HANDED_OUT_KINDS = PLANNED_KINDS + (CampaignKind.NOTICE, CampaignKind.MAKE_UP)


def check_kind(kind: CampaignKind | str) -> CampaignKind:
    """``kind`` as a CampaignKind, else BadInput naming the kinds a campaign plans."""
    try:
        return CampaignKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in PLANNED_KINDS)
        raise BadInput(_("unknown campaign kind {kind}; use one of: {names}").format(
            kind=repr(str(kind)[:40]), names=names)) from None


def ensure_campaign(session: Session, kind: CampaignKind | str) -> Campaign:
    """The campaign of ``kind`` (named after it), created with the model's defaults."""
    kind = check_kind(kind)
    return first_or_add(session, select(Campaign).where(Campaign.name == kind.value),
                        lambda: Campaign(name=kind.value, kind=kind))


#: The task kinds a meeting gives out.
MEETING_KINDS = (CampaignKind.NOTICE, CampaignKind.MAKE_UP)


def run_period(meeting_id: int) -> str:
    """The ``campaign_runs.period`` of a meeting's run: ``m<meeting id>``."""
    return f"m{int(meeting_id)}"


def _kind_in(kind: CampaignKind | str, kinds: tuple[CampaignKind, ...],
             who: str) -> CampaignKind:
    """``kind`` as a CampaignKind if it is one of ``kinds``, else one BadInput line
    (``who``: a sentence with ``{kinds}`` and ``{kind}``, translated)."""
    try:
        found = CampaignKind(kind)
    except ValueError:
        found = None
    if found not in kinds:
        raise BadInput(_(who).format(kinds=_(" or ").join(k.value for k in kinds),
                                     kind=repr(str(kind)[:40])))
    return found


def check_meeting_kind(kind: CampaignKind | str) -> CampaignKind:
    return _kind_in(kind, MEETING_KINDS, N_("a meeting gives out {kinds} tasks, not {kind}"))


#: Every task kind the engine gives out: a meeting's, and care visits (`tasks.care.care`).
ENGINE_KINDS = (*MEETING_KINDS, CampaignKind.CARE_VISIT)


def check_engine_kind(kind: CampaignKind | str) -> CampaignKind:
    return _kind_in(kind, ENGINE_KINDS,
                    N_("the task engine gives out {kinds} tasks, not {kind}"))


def meeting_run(session: Session, *, kind: str, meeting_id: int) -> CampaignRun:
    """The run of ``kind`` (notice, make_up) for a meeting, created with its campaign if
    missing (period ``m<id>``, ``meeting_id`` set, the meeting's material); idempotent."""
    kind = check_meeting_kind(kind)
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(_("no meeting with id {id}").format(id=meeting_id))
    campaign = ensure_campaign(session, kind)
    period = run_period(meeting.id)
    return first_or_add(
        session, select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                           CampaignRun.period == period),
        lambda: CampaignRun(campaign_id=campaign.id, period=period, meeting_id=meeting.id,
                            material=meeting.material))


def give_tasks(session: Session, *, run_id: int, kind: str, member_ids_sql: str,
               params: dict, due_on: dt.date, closes_on: dt.date, max_attempts: int = 3,
               today: dt.date | None = None) -> dict:
    """One ``kind`` task in run ``run_id`` for every member id ``member_ids_sql`` yields
    (``SELECT m.id FROM …``, ``:name`` parameters from ``params``) who is contactable
    (`db.machines.CONTACTABLE_MEMBER`) and has no task in this run yet (idempotent), each
    assigned by `tasks.work.assign.match` or left ``open`` when nobody has room.

    ``today``: the day the tasks count as made (`tasks.work.rules.made_at`; default: now). Returns
    counts of the tasks made now: ``created``, ``assigned``, ``open``.
    """
    kind = check_engine_kind(kind)
    work_rules.MAX_ATTEMPTS.check(max_attempts)
    if closes_on < due_on:
        raise BadInput(_("the tasks would close ({closes_on}) before they are due ({due_on})")
                       .format(closes_on=closes_on, due_on=due_on))
    session.flush()
    conn = session.connection()
    found = conn.execute(select(Campaign.kind, CampaignRun.meeting_id)
                         .join(CampaignRun, CampaignRun.campaign_id == Campaign.id)
                         .where(CampaignRun.id == run_id)).first()
    if found is None:
        raise NotFound(_("no campaign run {id}").format(id=run_id))
    if str(found.kind) != kind.value:
        raise BadInput(_("run {id} is a {found} run, not a {kind} run")
                       .format(id=run_id, found=found.kind, kind=kind.value))
    # PostgreSQL: serialise with planners (loads read below stay true until the INSERT).
    lock(conn, ASSIGN_LOCK)
    rows = fetch(conn, f"""
        SELECT m.id, m.branch_id, m.last_reached_by FROM members m
        WHERE m.id IN ({member_ids_sql}) AND m.status IN ({CONTACTABLE_SQL})
          AND NOT EXISTS (SELECT 1 FROM outreach_tasks t
                          WHERE t.run_id = :give_run AND t.member_id = m.id)
        ORDER BY m.id""", {**params, "give_run": run_id})
    if not rows:
        return {"created": 0, "assigned": 0, "open": 0}
    chains = tree.chains(conn)
    volunteers = volunteers_with_room(conn, rows, chains)
    picks = (match(rows, volunteers, chains) if volunteers
             else [(k, None, 0) for k, _b, _l in rows])
    del rows
    assigned = sum(1 for _k, v, _r in picks if v is not None)
    write_picks(conn, picks)
    del picks
    created = insert_tasks(conn, run_id, kind.value, max_attempts, due_on, closes_on,
                            work_rules.made_at(today or rules.real_today()))
    # every picked member was without a task in this run under the lock: all were written
    return {"created": created, "assigned": assigned, "open": created - assigned}
