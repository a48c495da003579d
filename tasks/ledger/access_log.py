"""Who saw what: the access log of members' contact details, and the purge of the
departed (personal information law, issue 24).

Every time a person is shown a member's phone, address or family contact, the function
of `tasks/` that decides to show them calls `note_shown` in the same transaction: one
`AccessEvent` (who, when, through which door, and for a file its name and how many
members it held) and one `AccessEventMember` per member shown — never the details
themselves. Both tables are append-only in the database (`db.guards`, revision 0012): a
row can be neither changed nor deleted, whoever asks. The doors (`DOORS`):

* ``cli`` — `outreach task show` (and the values on record a survey's prompts show) on
  this machine; ``service`` — the same through the ledger service (`outreach serve`);
* ``app`` — the volunteer's phone pages (``/app/``, `service.pages`): the task card;
* ``runsheet`` — `outreach tasks --format csv|xlsx` (the run sheet, with phones and
  addresses; ``file_name`` when written to a file);
* ``member-card`` — `outreach member show`;
* ``unreachable`` — `outreach report unreachable` (family contacts);
* ``export`` — `outreach members export` (the whole ledger, with its file's name).

Because the log row is written in the transaction that read the details, a command or a
request that fails shows nothing and logs nothing; one that shows something has logged it.

`access_report` answers "who saw this member's phone?" and "what did this volunteer see?"
(coordinators). `purge_departed` clears the contact details of members deceased or moved
out before a day: keep personal information no longer than it is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Integer, Select, and_, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, NotFound
from outreach.db.machines import MemberStatus
from outreach.db.models import (AccessEvent, AccessEventMember, Attempt, Member, MemberChange,
                       MemberStatusChange, OutreachTask, Volunteer)
from outreach.db.state import insert_member_changes, member_change
from outreach.i18n import N_, _
from outreach.tasks.access.permissions import COORDINATOR, PERSON, Actor, requires

#: The doors through which contact details reach a person (``access_events.door``).
CLI, SERVICE, RUNSHEET, MEMBER_CARD, UNREACHABLE, EXPORT, APP = (
    "cli", "service", "runsheet", "member-card", "unreachable", "export", "app")
DOORS = frozenset({CLI, SERVICE, RUNSHEET, MEMBER_CARD, UNREACHABLE, EXPORT, APP})

#: The access report's columns as people read them (`cli.common.table` translates them).
REPORT_COLUMNS = (N_("at"), N_("volunteer_id"), N_("volunteer"), N_("door"), N_("file"),
                  N_("members"))

#: The member fields that hold contact details: shown, they are logged; departed, purged.
CONTACT_FIELDS = ("phone", "home_address", "current_address", "family_contact_name",
                  "family_contact_phone")
#: Survey answers (``attempts.answers``) that hold contact details (`tasks.kernel.rules`).
CONTACT_ANSWERS = ("phone", "address", "family_contact_name", "family_contact_phone")
#: Statuses whose members the purge is for.
DEPARTED = (MemberStatus.DECEASED.value, MemberStatus.MOVED_OUT.value)
#: ``member_changes.reason`` of a purged field (the value itself is never copied).
PURGE_REASON = "purged: {status} since before {day} (personal information no longer needed)"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _file_name(name: str | os.PathLike | None) -> str | None:
    """A file's name only (never its folder), one line, at most 255 characters."""
    if name is None:
        return None
    base = os.path.basename(os.fspath(name).rstrip("/")) or os.fspath(name)
    return "".join(c if c.isprintable() else "?" for c in base)[:255] or None


@requires(PERSON)
def note_shown(session: Session, *, actor: Actor, member_ids: Iterable[int] | Select,
               door: str, file_name: str | os.PathLike | None = None) -> int | None:
    """Log that ``actor`` was shown the contact details of ``member_ids`` through
    ``door`` (for a file: its name, ``file_name``, folder dropped). Returns the event's id,
    or None when no member was shown (nothing logged).

    ``member_ids`` is a collection of ids (written with one executemany) or a SELECT of
    one column of member ids (written with one INSERT … SELECT: a whole ledger's export
    costs two statements, not a row of Python per member). Called by the guarded
    functions that show the details, after their own check, in their transaction.
    """
    if door not in DOORS:
        raise ValueError(f"unknown door {door!r}")
    name = _file_name(file_name)
    if isinstance(member_ids, Select):
        shown = member_ids.distinct().subquery()
        count = session.scalar(select(func.count()).select_from(shown))
        ids = None
    else:
        ids = sorted({int(i) for i in member_ids})
        count = len(ids)
    if not count:
        return None
    event_id = session.scalar(
        insert(AccessEvent).values(at=_utcnow(), volunteer_id=actor.id, door=door,
                                   file_name=name, members_count=count)
        .returning(AccessEvent.id))
    if ids is None:
        column = list(shown.c)[0]
        session.execute(insert(AccessEventMember).from_select(
            ["event_id", "member_id"], select(literal(event_id, Integer), column)))
    else:
        for i in range(0, len(ids), 10_000):
            session.execute(insert(AccessEventMember),
                            [{"event_id": event_id, "member_id": m} for m in ids[i:i + 10_000]])
    return event_id


@requires(COORDINATOR)
def access_report(session: Session, *, actor: Actor, member: str | None = None,
                  volunteer: int | None = None, since: dt.date | None = None,
                  until: dt.date | None = None) -> list[dict]:
    """The showings of contact details, oldest first (coordinators): with ``member``
    (ledger number or id) those that showed that member, with ``volunteer`` (an id) those
    shown to that volunteer; ``since`` / ``until`` (days, both included) narrow them.
    Each row: when, who (id and name), door, file, members — never a detail itself."""
    if member is None and volunteer is None:
        raise BadInput(_("say whose showings to list: --member LEDGER_NO or --volunteer ID"))
    if since is not None and until is not None and since > until:
        raise BadInput(_("--since {since} is after --until {until}").format(
            since=since, until=until))
    stmt = (select(AccessEvent.id, AccessEvent.at, AccessEvent.volunteer_id, Volunteer.name,
                   AccessEvent.door, AccessEvent.file_name, AccessEvent.members_count)
            .outerjoin(Volunteer, Volunteer.id == AccessEvent.volunteer_id)
            .order_by(AccessEvent.at, AccessEvent.id))
    if member is not None:
        from outreach.tasks.ledger.people import find_member

        found = find_member(session, ref=member)
        stmt = stmt.where(AccessEvent.id.in_(
            select(AccessEventMember.event_id).where(AccessEventMember.member_id == found.id)))
    if volunteer is not None:
        if not 0 < volunteer < 2**31 or session.get(Volunteer, volunteer) is None:
            raise NotFound(_("no volunteer with id {id}").format(id=volunteer))
        stmt = stmt.where(AccessEvent.volunteer_id == volunteer)
    if since is not None:
        stmt = stmt.where(AccessEvent.at >= dt.datetime.combine(since, dt.time()))
    if until is not None:
        stmt = stmt.where(AccessEvent.at < dt.datetime.combine(until + dt.timedelta(days=1),
                                                               dt.time()))
    return [{"at": f"{r.at:%Y-%m-%d %H:%M:%S}", "volunteer_id": r.volunteer_id,
             "volunteer": r.name or "", "door": r.door, "file": r.file_name or "",
             "members": r.members_count}
            for r in session.execute(stmt)]


@dataclass
class Purged:
    """What `purge_departed` did, in counts only."""

    #: Members whose contact details were cleared.
    members: int = 0
    #: Fields cleared (each one a row of member history, without its value).
    fields: int = 0
    #: Survey answers of theirs whose contact details were cleared too.
    answers: int = 0
    #: Earlier rows of their member history that still hold a contact detail: that
    #: history is append-only (the database refuses to change it), so they stay.
    history_kept: int = 0


@requires(COORDINATOR)
def purge_departed(session: Session, *, actor: Actor, before: dt.date,
                   today: dt.date | None = None) -> Purged:
    """Clear phone, addresses and family contact of every member deceased or moved out
    before ``before`` (their status since before that day, as their status history tells;
    coordinators). Each cleared field is a row of member history saying so — without the
    value. Their status history stays. The survey answers of their attempts lose their
    contact details too. ``before`` in the future is refused."""
    from outreach.tasks.kernel import rules

    today = today or rules.real_today()
    if before > today:
        raise BadInput(_("--before {day} is in the future; the purge is for members who "
                         "left before a day that has passed").format(day=before))
    since = (select(MemberStatusChange.member_id,
                    func.max(MemberStatusChange.at).label("since"))
             .join(Member, and_(Member.id == MemberStatusChange.member_id,
                                MemberStatusChange.to_status == Member.status))
             .where(Member.status.in_(DEPARTED))
             .group_by(MemberStatusChange.member_id).subquery())
    cols = [getattr(Member, f) for f in CONTACT_FIELDS]
    rows = session.execute(
        select(Member.id, Member.status, *cols)
        .join(since, since.c.member_id == Member.id)
        .where(since.c.since < dt.datetime.combine(before, dt.time()),
               or_(*(c.is_not(None) for c in cols)))
        .order_by(Member.id)).all()
    out = Purged()
    if not rows:
        return out
    ids = [r[0] for r in rows]
    changes = []
    for r in rows:
        reason = PURGE_REASON.format(status=str(r[1]), day=before.isoformat())
        # the row says which field was emptied, never what it held
        changes += [member_change(r[0], f, None, None, actor_id=actor.id, reason=reason)
                    for f, value in zip(CONTACT_FIELDS, r[2:]) if value is not None]
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.history_kept += session.scalar(
            select(func.count()).select_from(MemberChange)
            .where(MemberChange.member_id.in_(chunk), MemberChange.field.in_(CONTACT_FIELDS),
                   or_(MemberChange.old_value.is_not(None),
                       MemberChange.new_value.is_not(None))))
        session.execute(update(Member).where(Member.id.in_(chunk))
                        .values(**{f: None for f in CONTACT_FIELDS},
                                version=Member.version + 1)
                        .execution_options(synchronize_session=False))
        out.answers += _purge_answers(session, chunk)
    insert_member_changes(session, changes)
    session.flush()
    # members loaded in this session before the purge read the database again
    purged = set(ids)
    for m in list(session.identity_map.values()):
        if isinstance(m, Member) and m.id in purged:
            session.expire(m)
    out.members, out.fields = len(ids), len(changes)
    return out


def _purge_answers(session: Session, member_ids: list[int]) -> int:
    """Drop the contact details from the survey answers of these members' attempts;
    returns how many attempts changed."""
    found = session.execute(
        select(Attempt.id, Attempt.answers)
        .join(OutreachTask, OutreachTask.id == Attempt.task_id)
        .where(OutreachTask.member_id.in_(member_ids), Attempt.answers.is_not(None))).all()
    changed = []
    for aid, text in found:
        try:
            answers = json.loads(text)
        except ValueError:
            continue
        if not isinstance(answers, dict):
            continue
        kept = {k: v for k, v in answers.items() if k not in CONTACT_ANSWERS}
        if kept != answers:
            changed.append({"b_id": aid, "b_answers": json.dumps(kept, ensure_ascii=False)
                            if kept else None})
    if changed:
        from sqlalchemy import bindparam

        session.connection().execute(
            update(Attempt.__table__).where(Attempt.__table__.c.id == bindparam("b_id"))
            .values(answers=bindparam("b_answers")), changed)
    return len(changed)
