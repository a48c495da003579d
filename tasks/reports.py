"""Read-only views of the ledger: summaries, volunteer lists, a member's card."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.errors import Refused
from db.machines import OPEN_TASK
from db.models import (
    Branch,
    Member,
    MemberChange,
    MemberStatusChange,
    OutreachTask,
    Residence,
    Role,
    Volunteer,
)
from tasks.access import COORDINATOR, PERSON, Actor, requires
from tasks.people import find_member


def ledger_summary(session: Session) -> list[dict]:
    """Per branch: members by lifecycle and situation; a total row last."""
    statuses = ("unverified", "active", "unreachable", "moved_out", "deceased", "do_not_contact")
    cols = [func.count(Member.id).label("members")]
    cols += [func.sum(case((Member.status == s, 1), else_=0)).label(s) for s in statuses]
    cols += [func.sum(case((Member.residence == Residence.AWAY, 1), else_=0)).label("away"),
             func.sum(case((Member.homebound.is_(True), 1), else_=0)).label("homebound")]
    stmt = (select(Branch.name, *cols).join(Member, Member.branch_id == Branch.id)
            .group_by(Branch.name).order_by(Branch.name))
    rows = [{"branch": r[0], **{k: int(v or 0) for k, v in zip(
        ["members", *statuses, "away", "homebound"], r[1:])}} for r in session.execute(stmt)]
    if rows:
        total = {"branch": "TOTAL"}
        for key in rows[0]:
            if key != "branch":
                total[key] = sum(r[key] for r in rows)
        rows.append(total)
    return rows


@requires(COORDINATOR)
def volunteer_list(session: Session, *, actor: Actor) -> list[dict]:
    """Every volunteer and coordinator with their open tasks and wrong codes (coordinators)."""
    open_count = (select(OutreachTask.volunteer_id, func.count().label("n"))
                  .where(OutreachTask.status.in_(list(OPEN_TASK)))
                  .group_by(OutreachTask.volunteer_id).subquery())
    stmt = (select(Volunteer.id, Volunteer.name, Volunteer.role, Branch.name, Volunteer.capacity,
                   func.coalesce(open_count.c.n, 0), Volunteer.active, Volunteer.failed_logins)
            .join(Branch, Branch.id == Volunteer.branch_id)
            .outerjoin(open_count, open_count.c.volunteer_id == Volunteer.id)
            .order_by(Volunteer.id))
    return [{"id": r[0], "name": r[1], "role": str(r[2]), "branch": r[3], "capacity": r[4],
             "open tasks": r[5], "active": "yes" if r[6] else "no", "wrong codes": r[7]}
            for r in session.execute(stmt)]


@requires(PERSON)
def can_see_contacts(session: Session, *, actor: Actor, member_id: int) -> bool:
    """Coordinators see everyone; a volunteer only members of their own open tasks."""
    if actor.role == Role.COORDINATOR:
        return True
    return session.scalar(
        select(func.count()).select_from(OutreachTask).where(
            OutreachTask.member_id == member_id, OutreachTask.volunteer_id == actor.id,
            OutreachTask.status.in_(list(OPEN_TASK)))) > 0


@requires(PERSON)
def member_card(session: Session, *, ref: str, actor: Actor) -> str:
    """A member's details as text, for someone allowed to see them."""
    member = find_member(session, ref=ref)
    if not can_see_contacts(session, actor=actor, member_id=member.id):
        raise Refused(f"member {member.id} is not in your open tasks")
    branch = session.get(Branch, member.branch_id)
    away = member.residence == Residence.AWAY
    lines = [
        f"member {member.id}  ledger {member.ledger_no}  {member.name}",
        f"  branch        {branch.name}",
    ]
    from tasks.meetings import roles_of

    roles = roles_of(session, member.id)
    if roles:
        lines.append("  roles         " + ", ".join(f"{r} of {b}" for b, r in roles))
    lines += [
        f"  status        {member.status}",
        f"  born          {member.birth_date or '-'}",
        f"  residence     {member.residence}{'  (homebound)' if member.homebound else ''}",
        f"  phone         {member.phone or '-'}   verified {member.phone_verified_on or 'never'}",
        f"  home address  {member.home_address or '-'}",
    ]
    if away or member.current_address:
        lines.append(f"  lives now at  {member.current_address or '-'}")
    lines += [
        f"  address verified {member.address_verified_on or 'never'}",
        f"  family        {member.family_contact_name or '-'}  "
        f"{member.family_contact_phone or ''}".rstrip(),
        f"  interests     {member.interests or '-'}",
        f"  needs         {member.needs or '-'}",
        f"  confirmed     {member.confirmed_on or 'never'}   last reached "
        f"{member.last_reached_on or 'never'}   failed in a row {member.failed_contacts}",
    ]
    from tasks.care import contributions_of

    if member.away_since:
        lines.append(f"  away since    {member.away_since}")
    contributions = contributions_of(session, member.id)
    if contributions:
        lines.append("  contributions (newest first)")
        for on, kind, note in contributions:
            lines.append(f"    {on}  {kind}  {note or ''}".rstrip())
    tasks = session.execute(
        select(OutreachTask.id, OutreachTask.kind, OutreachTask.status, OutreachTask.due_on,
               OutreachTask.volunteer_id)
        .where(OutreachTask.member_id == member.id, OutreachTask.status.in_(list(OPEN_TASK)))
        .order_by(OutreachTask.due_on)).all()
    if tasks:
        lines.append("  open tasks")
        for t in tasks:
            lines.append(f"    task {t.id}  {t.kind}  {t.status}  due {t.due_on}  "
                         f"volunteer {t.volunteer_id or '-'}")
    history = session.execute(
        select(MemberStatusChange.at, MemberStatusChange.from_status,
               MemberStatusChange.to_status, MemberStatusChange.actor_id,
               MemberStatusChange.reason)
        .where(MemberStatusChange.member_id == member.id)
        .order_by(MemberStatusChange.id.desc()).limit(5)).all()
    changes = session.execute(
        select(MemberChange.at, MemberChange.field, MemberChange.actor_id, MemberChange.reason)
        .where(MemberChange.member_id == member.id)
        .order_by(MemberChange.id.desc()).limit(5)).all()
    if history or changes:
        lines.append("  history (newest first)")
        for h in history:
            lines.append(f"    {h.at:%Y-%m-%d %H:%M}  {h.from_status} → {h.to_status}  "
                         f"by {h.actor_id or 'system'}  {h.reason or ''}".rstrip())
        for c in changes:
            lines.append(f"    {c.at:%Y-%m-%d %H:%M}  {c.field} changed  by {c.actor_id or 'system'}"
                         f"  {c.reason or ''}".rstrip())
    return "\n".join(lines)
