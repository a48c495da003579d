"""Care: care occasions, care visits, life events, hardship, contributions, transfers.

A care occasion (`db.models.CareOccasion`) is one member's reason for a care visit, with a
window (`tasks.care.rules.CARE_BEFORE_DAYS` before to `tasks.care.rules.CARE_AFTER_DAYS` after the day):

* a milestone birthday (`tasks.care.rules.milestone_ages`: 80, 85, 90, 95, every year from 100);
* the Double Ninth and the Spring Festival (`tasks.care.rules.double_ninth` / `tasks.care.rules.spring_festival`,
  converted by the `lunardate` package) for members aged `tasks.care.rules.CARE_FESTIVAL_AGE` and over
  on the day and every homebound member;
* a life event a volunteer or coordinator records (`record_event`): due within
  `tasks.care.rules.LIFE_EVENT_DAYS` of being recorded;
* a month in hardship (`mark_hardship` until `clear_hardship`): the calendar month.

Planning (`plan_*`, driven daily by `tasks.care.care_jobs.plan_care`) writes, set-based and
idempotent (one row per member, kind and day: the unique key), an occasion for every
contactable member whose occasion's window has begun and not yet closed, then gives a
``care_visit`` task for each occasion without one through the task engine
(`tasks.work.engine.give_tasks`: capacity, continuity), in one run per kind and day (hardship:
per month; period e.g. ``bd-2026-11-30``, ``hs-2026-11``). A care visit done with visited,
gift_delivered or help_arranged within the window moves the occasion to ``visited``
(`visited`, the outcome effect ``care_visited``); a window closed without one →
``missed``; a member no longer contactable → ``cancelled`` (`close_occasions`).

Contributions (room to play a role) are recorded by coordinators (`add_contribution`),
listed on the member's card (`tasks.ledger.reports.contributions_of`) and counted per branch
(`contributions_by_branch`). A member living away for more than
`tasks.care.rules.TRANSFER_AFTER_MONTHS` months gets, once per stay, a ``transfer`` task for a
coordinator of their branch (`plan_transfers`).

Service functions: they flush, never commit; each declares who may call it. Errors never
carry a member's contact details.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import Date, String, case, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from outreach.db.codes import CampaignKind, CareOccasionKind, ContributionKind, LifeEventKind
from outreach.db.errors import BadInput, Refused, shown
from outreach.db.machines import CONTACTABLE_MEMBER, OPEN_TASK, CareStatus, TaskStatus
from outreach.db.models import (
    CampaignRun,
    CareOccasion,
    Contribution,
    Hardship,
    LifeEvent,
    Member,
    OutreachTask,
    Residence,
)
from outreach.db.state import first_or_add, flush, move_care, note_member_change
from outreach.i18n import N_, _
from outreach.tasks.care import rules as care_rules
from outreach.tasks.kernel import rules
from outreach.tasks.work import rules as work_rules
from outreach.tasks.kernel.labels import label
from outreach.tasks.access.permissions import COORDINATOR, COUNTS, PERSON, Actor, requires
from outreach.tasks.ledger.people import find_member

CK = CareOccasionKind
#: The prefix of each kind's run period (``bd-2026-11-30``; hardship ``hs-2026-11``).
PREFIX = {CK.BIRTHDAY: "bd", CK.DOUBLE_NINTH: "dn", CK.SPRING_FESTIVAL: "sf",
          CK.LIFE_EVENT: "le", CK.HARDSHIP: "hs"}
#: Festivals: kind → the function giving the festival's day in a (lunar) year.
FESTIVALS = {CK.DOUBLE_NINTH: care_rules.double_ninth, CK.SPRING_FESTIVAL: care_rules.spring_festival}
FESTIVAL_NAME = {CK.DOUBLE_NINTH: "Double Ninth", CK.SPRING_FESTIVAL: "Spring Festival"}
#: The ``member_changes.field`` of a hardship mark; values ``level N`` (None: cleared).
HARDSHIP_FIELD = "hardship"
NOTE_LEN = 2000
_CONTACTABLE = [str(s) for s in CONTACTABLE_MEMBER]


# --- small checks -------------------------------------------------------------------------------


def _note(note: str | None) -> str | None:
    if note is None or not str(note).strip():
        return None
    text = str(note).strip()
    rules.check_text(text, N_("the note"))
    if len(text) > NOTE_LEN:
        raise BadInput(_("the note is too long ({limit} characters at most) or contains "
                         "control characters").format(limit=NOTE_LEN))
    return text


def _choice(enum_cls, value: str, what: str):
    try:
        return enum_cls(str(value).strip().lower())
    except ValueError:
        raise BadInput(_("unknown {what} {value}; one of: {choices}").format(
            what=_(what), value=shown(str(value)),
            choices=", ".join(k.value for k in enum_cls))) from None


def _day(day: dt.date, what: str) -> dt.date:
    if not isinstance(day, dt.date) or not rules.FIRST_DAY <= day <= rules.LAST_DAY:
        raise BadInput(_("{what} is not a possible date (years 1900 to 2100)").format(
            what=_(what)))
    return rules.check_not_future(day, what)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 101st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first = day.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def run_period(kind: CareOccasionKind | str, today: dt.date) -> str:
    """The run of care visits of ``kind`` made on ``today`` (hardship: in its month)."""
    kind = CK(kind)
    if kind == CK.HARDSHIP:
        return f"{PREFIX[kind]}-{today:%Y-%m}"
    return f"{PREFIX[kind]}-{today.isoformat()}"


def windows(before: int | None = None, after: int | None = None) -> tuple[int, int]:
    return (care_rules.CARE_BEFORE_DAYS.check(care_rules.CARE_BEFORE_DAYS.default if before is None
                                         else before),
            care_rules.CARE_AFTER_DAYS.check(care_rules.CARE_AFTER_DAYS.default if after is None
                                        else after))


# --- writing occasions, set-based ---------------------------------------------------------------


def _insert_occasions(session: Session, kind: CareOccasionKind, on: dt.date, first: dt.date,
                      last: dt.date, detail, members) -> int:
    """ONE ``INSERT … SELECT``: an occasion ``kind`` on ``on`` (window first … last) for
    every contactable member ``members`` (a SELECT of ``Member`` rows' columns, filtered)
    selects who has none yet. ``detail``: a text or an SQL expression over ``Member``."""
    members = members.where(Member.status.in_(_CONTACTABLE), ~exists().where(
        CareOccasion.member_id == Member.id, CareOccasion.kind == kind.value,
        CareOccasion.occasion_on == literal(on, Date)))
    if isinstance(detail, str):
        detail = literal(detail, String)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = members.with_only_columns(
        Member.id, literal(kind.value, String), literal(on, Date), literal(first, Date),
        literal(last, Date), detail, literal(CareStatus.DUE.value, String),
        literal(f"care planning: {kind.value}", String), literal(1), literal(now))
    made = session.execute(insert(CareOccasion).from_select(
        ["member_id", "kind", "occasion_on", "window_from", "window_to", "detail", "status",
         "status_reason", "version", "created_at"], rows).returning(CareOccasion.id))
    return len(made.all())  # (PostgreSQL reports no rowcount for this INSERT … SELECT)


def plan_birthdays(session: Session, *, today: dt.date, before: int | None = None,
                   after: int | None = None) -> int:
    """Milestone birthdays whose window holds ``today``: one INSERT per birthday day
    (a member born on 29 February keeps it on the 28th in other years)."""
    before, after = windows(before, after)
    made = 0
    for offset in range(-after, before + 1):
        on = today + dt.timedelta(days=offset)
        ages: dict[dt.date, int] = {}
        for age in care_rules.milestone_ages():
            year = on.year - age
            if year < rules.FIRST_DAY.year:
                continue
            try:
                ages[on.replace(year=year)] = age
            except ValueError:  # on is 29 Feb, the birth year has none: nobody born so
                pass
            if on.month == 2 and on.day == 28 and care_rules.birthday_in(dt.date(2000, 2, 29),
                                                                   on.year) == on:
                try:
                    ages[dt.date(year, 2, 29)] = age
                except ValueError:
                    pass
        if not ages:
            continue
        detail = case({b: f"{ordinal(a)} birthday" for b, a in ages.items()},
                      value=Member.birth_date)
        made += _insert_occasions(
            session, CK.BIRTHDAY, on, on - dt.timedelta(days=before),
            on + dt.timedelta(days=after), detail,
            select(Member.id).where(Member.birth_date.in_(list(ages))))
    return made


def festival_days(kind: CareOccasionKind, today: dt.date, before: int, after: int) -> list[dt.date]:
    """The festival's days whose window holds ``today`` (at most one)."""
    out = []
    for year in (today.year - 1, today.year, today.year + 1):
        if not 1900 < year < 2100:
            continue
        on = FESTIVALS[kind](year)
        if on - dt.timedelta(days=before) <= today <= on + dt.timedelta(days=after):
            out.append(on)
    return out


def plan_festivals(session: Session, *, today: dt.date, before: int | None = None,
                   after: int | None = None) -> dict[str, int]:
    """The Double Ninth and the Spring Festival whose window holds ``today``: members aged
    `tasks.care.rules.CARE_FESTIVAL_AGE` or over on the day, and every homebound member."""
    before, after = windows(before, after)
    made = {}
    for kind in FESTIVALS:
        n = 0
        for on in festival_days(kind, today, before, after):
            born_by = care_rules.birthday_in(on, on.year - care_rules.CARE_FESTIVAL_AGE) \
                if not (on.month == 2 and on.day == 29) else \
                dt.date(on.year - care_rules.CARE_FESTIVAL_AGE, 2, 28)
            n += _insert_occasions(
                session, kind, on, on - dt.timedelta(days=before),
                on + dt.timedelta(days=after), f"{FESTIVAL_NAME[kind]} {on.year}",
                select(Member.id).where((Member.homebound.is_(True))
                                        | (Member.birth_date <= born_by)))
        made[kind.value] = n
    return made


def plan_hardship(session: Session, *, today: dt.date) -> int:
    """This month's care occasion (the month is its window) for every member in hardship."""
    first, last = month_of(today)
    open_hardship = select(Hardship.member_id).where(Hardship.cleared_on.is_(None),
                                                     Hardship.since <= today)
    return _insert_occasions(session, CK.HARDSHIP, first, first, last,
                             f"hardship {today:%Y-%m}",
                             select(Member.id).where(Member.id.in_(open_hardship)))


#: Rows per UPDATE of care occasions. PostgreSQL's history trigger joins the statement's
#: old and new rows (transition tables, no index): one UPDATE of 41,000 occasions took
#: 62 s, in chunks of this size about a second.
CHUNK = 500


def _update_chunked(session: Session, ids: list[int], **values) -> int:
    """UPDATE the care occasions ``ids`` to ``values``, `CHUNK` rows per statement."""
    n = 0
    for i in range(0, len(ids), CHUNK):
        n += session.execute(
            update(CareOccasion).where(CareOccasion.id.in_(ids[i:i + CHUNK]))
            .values(**values, version=CareOccasion.version + 1)
            .execution_options(synchronize_session=False)).rowcount or 0
    return n


def close_occasions(session: Session, *, today: dt.date) -> dict[str, int]:
    """Due occasions of members no longer contactable → cancelled; due occasions whose
    window closed before ``today`` → missed (the triggers write history)."""
    gone = select(Member.id).where(Member.status.notin_(_CONTACTABLE))
    due = select(CareOccasion.id).where(CareOccasion.status == CareStatus.DUE.value)
    cancelled = _update_chunked(
        session, list(session.scalars(due.where(CareOccasion.member_id.in_(gone)))),
        status=CareStatus.CANCELLED.value, status_by=None,
        status_reason=f"care planning {today}: the member is no longer contactable")
    missed = _update_chunked(
        session, list(session.scalars(due.where(CareOccasion.window_to < today))),
        status=CareStatus.MISSED.value, status_by=None,
        status_reason=f"care planning {today}: the window closed without a visit")
    return {"cancelled": cancelled, "missed": missed}


# --- care visit tasks ---------------------------------------------------------------------------


def care_run(session: Session, kind: CareOccasionKind | str, today: dt.date) -> CampaignRun:
    """The care-visit run for ``kind`` on ``today`` (`run_period`), created if missing."""
    from outreach.tasks.work.engine import ensure_campaign

    campaign = ensure_campaign(session, CampaignKind.CARE_VISIT)
    period = run_period(kind, today)
    return first_or_add(
        session, select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                           CampaignRun.period == period),
        lambda: CampaignRun(campaign_id=campaign.id, period=period))


#: Members with a due occasion of a kind and day and no care visit yet (`give_tasks`).
_WAITING_SQL = ("SELECT o.member_id FROM care_occasions o WHERE o.kind = :care_kind "
                "AND o.occasion_on = :care_on AND o.status = 'due' AND o.task_id IS NULL")


def give_visits(session: Session, *, kind: CareOccasionKind | str, today: dt.date,
                member_id: int | None = None) -> dict[str, int]:
    """A ``care_visit`` task (through `tasks.work.engine.give_tasks`) for every due occasion of
    ``kind`` whose window holds ``today`` and that has none yet (``member_id``: only that
    member's), due on the occasion's day (or today), closing when its window closes; the
    occasions are linked to their task. Idempotent."""
    from outreach.tasks.work import engine

    kind = CK(kind)
    waiting = (select(CareOccasion.occasion_on, CareOccasion.window_to)
               .where(CareOccasion.kind == kind.value,
                      CareOccasion.status == CareStatus.DUE.value,
                      CareOccasion.task_id.is_(None), CareOccasion.window_from <= today,
                      CareOccasion.window_to >= today).distinct()
               .order_by(CareOccasion.occasion_on))
    sql = _WAITING_SQL
    params: dict = {"care_kind": kind.value}
    if member_id is not None:
        waiting = waiting.where(CareOccasion.member_id == member_id)
        sql += " AND o.member_id = :care_member"
        params["care_member"] = member_id
    counts = {"created": 0, "assigned": 0, "open": 0}
    groups = session.execute(waiting).all()
    if not groups:
        return counts
    run = care_run(session, kind, today)
    for on, last in groups:
        got = engine.give_tasks(session, run_id=run.id, kind=CampaignKind.CARE_VISIT.value,
                                member_ids_sql=sql, params={**params, "care_on": on},
                                due_on=max(today, on), closes_on=last, today=today)
        for k in counts:
            counts[k] += got[k]
        # link each occasion to its task (chunked: see `CHUNK`). Two plain SELECTs matched
        # here, not a join: right after the bulk inserts PostgreSQL's statistics still
        # say both tables are small, and its join plan took 74 s for 41,000 occasions.
        waiting_occ = select(CareOccasion.member_id, CareOccasion.id).where(
            CareOccasion.kind == kind.value, CareOccasion.occasion_on == on,
            CareOccasion.status == CareStatus.DUE.value, CareOccasion.task_id.is_(None))
        if member_id is not None:
            waiting_occ = waiting_occ.where(CareOccasion.member_id == member_id)
        occ_of = dict(session.execute(waiting_occ).all())
        if occ_of:
            task_of = dict(session.execute(select(OutreachTask.member_id, OutreachTask.id)
                                           .where(OutreachTask.run_id == run.id)).all())
            _link(session, [(occ, task_of[m]) for m, occ in occ_of.items() if m in task_of])
    return counts


def _link(session: Session, pairs: list[tuple[int, int]]) -> None:
    """Set ``task_id`` on the occasions (occasion id, task id): one CASE per `CHUNK`."""
    for i in range(0, len(pairs), CHUNK):
        part = pairs[i:i + CHUNK]
        session.execute(
            update(CareOccasion).where(CareOccasion.id.in_([o for o, __ in part]))
            .values(task_id=case(dict(part), value=CareOccasion.id),
                    version=CareOccasion.version + 1)
            .execution_options(synchronize_session=False))


# --- transfers: a coordinator considers moving the membership of a member living away ----------


def plan_transfers(session: Session, *, today: dt.date) -> int:
    """A ``transfer`` task, assigned to a coordinator of the member's branch (or the
    nearest above; open when there is none), for every contactable member living away
    since `tasks.care.rules.TRANSFER_AFTER_MONTHS` months or more who has not had one this stay
    (``transfer_considered_on``). One run per month (``tr-YYYY-MM``); one insert."""
    from outreach.tasks.ledger.people import coordinator_for
    from outreach.tasks.work.engine import ensure_campaign

    since = rules.months_back(today, care_rules.TRANSFER_AFTER_MONTHS)
    rows = session.execute(select(Member.id, Member.branch_id).where(
        Member.residence == Residence.AWAY.value, Member.status.in_(_CONTACTABLE),
        Member.away_since.is_not(None), Member.away_since <= since,
        Member.transfer_considered_on.is_(None)).order_by(Member.id)).all()
    if not rows:
        return 0
    campaign = ensure_campaign(session, CampaignKind.TRANSFER)
    period = f"tr-{today:%Y-%m}"
    run = first_or_add(
        session, select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                           CampaignRun.period == period),
        lambda: CampaignRun(campaign_id=campaign.id, period=period))
    have = set(session.scalars(select(OutreachTask.member_id)
                               .where(OutreachTask.run_id == run.id)))
    coords: dict[int, int | None] = {}
    now = work_rules.made_at(today)
    due = today + dt.timedelta(days=campaign.due_days)
    tasks, ids = [], []
    for member_id, branch_id in rows:
        ids.append(member_id)
        if member_id in have:
            continue
        if branch_id not in coords:
            coords[branch_id] = coordinator_for(session, branch_id)
        coord = coords[branch_id]
        tasks.append(dict(
            run_id=run.id, member_id=member_id, kind=CampaignKind.TRANSFER.value,
            status=(TaskStatus.ASSIGNED if coord else TaskStatus.OPEN).value,
            volunteer_id=coord, status_reason="consider transferring the membership to a "
            "branch where the member lives", attempts=0, max_attempts=campaign.max_attempts,
            due_on=due, closes_on=due + dt.timedelta(days=campaign.due_days * 4),
            pending_confirmation=False, version=1, created_at=now))
    for i in range(0, len(tasks), 5000):
        session.execute(insert(OutreachTask), tasks[i:i + 5000])
    for i in range(0, len(ids), 500):
        session.execute(update(Member).where(Member.id.in_(ids[i:i + 500]))
                        .values(transfer_considered_on=today, version=Member.version + 1)
                        .execution_options(synchronize_session=False))
    return len(tasks)


# --- what people record -------------------------------------------------------------------------


@requires(PERSON)
def record_event(session: Session, *, member_ref: str, kind: str, actor: Actor,
                 today: dt.date, on: dt.date | None = None, note: str | None = None) -> dict:
    """A life event (hospitalised, bereaved, hardship, other) of a member: a care occasion
    (the event's day; window up to `tasks.care.rules.LIFE_EVENT_DAYS` after it is recorded) and its
    care visit at once. A volunteer records events only for members of their own open
    tasks; a coordinator for anyone."""
    member = find_member(session, ref=str(member_ref))
    if not actor.is_coordinator and not session.scalar(select(OutreachTask.id).where(
            OutreachTask.member_id == member.id, OutreachTask.volunteer_id == actor.id,
            OutreachTask.status.in_([str(s) for s in OPEN_TASK])).limit(1)):
        raise Refused(_("member {id} is not in your open tasks").format(id=member.id))
    what = _choice(LifeEventKind, kind, N_("life event"))
    day = _day(on or today, N_("the event's date"))
    if member.status not in CONTACTABLE_MEMBER:
        raise Refused(_("member {id} is {status}: no care visit can be made").format(
            id=member.id, status=label(member.status, of="member_status")))
    event = LifeEvent(member_id=member.id, kind=what, happened_on=day, note=_note(note),
                      recorded_by=actor.id)
    session.add(event)
    flush(session, "the life event")
    occasion = session.scalars(select(CareOccasion).where(
        CareOccasion.member_id == member.id, CareOccasion.kind == CK.LIFE_EVENT.value,
        CareOccasion.occasion_on == day)).first()
    if occasion is None:
        occasion = CareOccasion(
            member_id=member.id, kind=CK.LIFE_EVENT, occasion_on=day, window_from=day,
            window_to=max(day, today) + dt.timedelta(days=care_rules.LIFE_EVENT_DAYS),
            detail=f"life event {event.id}: {what.value}", status=CareStatus.DUE,
            status_by=actor.id, status_reason=f"life event {event.id} recorded")
        session.add(occasion)
        flush(session, "the care occasion")
    visits = give_visits(session, kind=CK.LIFE_EVENT, today=today, member_id=member.id)
    session.refresh(occasion)
    return {"event_id": event.id, "occasion_id": occasion.id,
            "occasion_status": str(occasion.status), "task_id": occasion.task_id,
            "window_to": occasion.window_to, **visits}


@requires(COORDINATOR)
def mark_hardship(session: Session, *, member_ref: str, level: int, actor: Actor,
                  today: dt.date) -> dict:
    """Mark a member in hardship (level 1–3; marking again changes the level): a care
    visit every month until cleared; this month's at once. The change is a
    ``member_changes`` row."""
    care_rules.HARDSHIP_LEVELS.check(level)
    member = find_member(session, ref=str(member_ref))
    row = session.get(Hardship, member.id)
    old = f"level {row.level}" if row is not None and row.cleared_on is None else None
    new = f"level {level}"
    if old == new:
        return {"member_id": member.id, "level": level, "changed": False}
    if row is None:
        session.add(Hardship(member_id=member.id, level=level, since=today,
                             marked_by=actor.id))
    else:
        if row.cleared_on is not None:
            row.since, row.cleared_on, row.cleared_by = today, None, None
        row.level, row.marked_by = level, actor.id
    note_member_change(session, member.id, HARDSHIP_FIELD, old, new, actor_id=actor.id,
                       reason="marked in hardship")
    flush(session, f"member {member.id}")
    made = plan_hardship_of(session, member.id, today)
    return {"member_id": member.id, "level": level, "changed": True, "occasions": made,
            **give_visits(session, kind=CK.HARDSHIP, today=today, member_id=member.id)}


def plan_hardship_of(session: Session, member_id: int, today: dt.date) -> int:
    """This month's hardship occasion of one member (none if already there)."""
    first, last = month_of(today)
    return _insert_occasions(session, CK.HARDSHIP, first, first, last,
                             f"hardship {today:%Y-%m}",
                             select(Member.id).where(Member.id == member_id))


@requires(COORDINATOR)
def clear_hardship(session: Session, *, member_ref: str, actor: Actor, today: dt.date) -> dict:
    """Clear a member's hardship: no more monthly visits (this month's due one is
    cancelled). A ``member_changes`` row."""
    member = find_member(session, ref=str(member_ref))
    row = session.get(Hardship, member.id)
    if row is None or row.cleared_on is not None:
        raise Refused(_("member {id} is not marked in hardship").format(id=member.id))
    old = f"level {row.level}"
    row.cleared_on, row.cleared_by = max(today, row.since), actor.id
    note_member_change(session, member.id, HARDSHIP_FIELD, old, None, actor_id=actor.id,
                       reason="hardship cleared")
    cancelled = 0
    for occ in session.scalars(select(CareOccasion).where(
            CareOccasion.member_id == member.id, CareOccasion.kind == CK.HARDSHIP.value,
            CareOccasion.status == CareStatus.DUE.value)):
        move_care(session, occ, CareStatus.CANCELLED, actor_id=actor.id,
                  reason="hardship cleared")
        cancelled += 1
    flush(session, f"member {member.id}")
    return {"member_id": member.id, "cleared_on": row.cleared_on, "cancelled": cancelled}


@requires(COORDINATOR)
def add_contribution(session: Session, *, member_ref: str, kind: str, on: dt.date,
                     actor: Actor, note: str | None = None) -> dict:
    """Record what a member did for others (teaching, volunteering, mediation, mentoring,
    other) on a day not in the future."""
    member = find_member(session, ref=str(member_ref))
    what = _choice(ContributionKind, kind, N_("kind of contribution"))
    day = _day(on, N_("the contribution's date"))
    row = Contribution(member_id=member.id, kind=what, happened_on=day, note=_note(note),
                       recorded_by=actor.id)
    session.add(row)
    flush(session, "the contribution")
    return {"id": row.id, "member_id": member.id, "kind": what.value, "on": day}


@requires(COUNTS)
def contributions_by_branch(session: Session, *, actor: Actor, first: dt.date,
                            last: dt.date) -> dict[int, dict[str, int]]:
    """Per branch id: ``members`` with at least one contribution from ``first`` to
    ``last`` (inclusive) and ``contributions`` in all. Counts only."""
    rows = session.execute(
        select(Member.branch_id, func.count(func.distinct(Contribution.member_id)),
               func.count(Contribution.id))
        .join(Member, Member.id == Contribution.member_id)
        .where(Contribution.happened_on >= first, Contribution.happened_on <= last)
        .group_by(Member.branch_id)).all()
    return {b: {"members": m, "contributions": c} for b, m, c in rows}


@requires(COUNTS)
def occasions_summary(session: Session, *, actor: Actor, first: dt.date,
                      last: dt.date) -> dict[str, dict[str, int]]:
    """Care occasions whose day lies from ``first`` to ``last``: kind → status → count."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, status, n in session.execute(
            select(CareOccasion.kind, CareOccasion.status, func.count())
            .where(CareOccasion.occasion_on >= first, CareOccasion.occasion_on <= last)
            .group_by(CareOccasion.kind, CareOccasion.status)):
        out[str(kind)][str(status)] = n
    return dict(out)
