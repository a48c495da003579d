"""Read-only views of the ledger: summaries, volunteer lists, a member's card."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from outreach.db.errors import Refused
from outreach.i18n import _
from outreach.db.machines import OPEN_TASK
from outreach.db.models import (
    Branch,
    BranchRole,
    Contribution,
    Member,
    MemberChange,
    MemberStatusChange,
    OutreachTask,
    Residence,
    Role,
    Volunteer,
)
from outreach.tasks.access.permissions import COORDINATOR, PERSON, Actor, requires
from outreach.tasks.ledger.people import find_member


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


def _field(label: str, value) -> str:
    """A line of a member's card: the label padded to 13 terminal columns, the value."""
    from unicodedata import east_asian_width

    used = sum(2 if east_asian_width(ch) in "WF" else 1 for ch in label)
    return f"  {label}{' ' * max(13 - used, 0)} {value}"


@requires(PERSON)
def member_card(session: Session, *, ref: str, actor: Actor) -> str:
    """A member's details as text, for someone allowed to see them (the showing is
    logged, `tasks.ledger.access_log`)."""
    member = find_member(session, ref=ref)
    if not can_see_contacts(session, actor=actor, member_id=member.id):
        raise Refused(_("member {id} is not in your open tasks").format(id=member.id))
    branch = session.get(Branch, member.branch_id)
    away = member.residence == Residence.AWAY
    never = _("never")
    lines = [
        _("member {id}  ledger {ledger_no}  {name}").format(
            id=member.id, ledger_no=member.ledger_no, name=member.name),
        _field(_("branch"), branch.name),
    ]
    from outreach.tasks.kernel.labels import label, reason as why

    roles = roles_of(session, member.id)
    if roles:
        lines.append(_field(_("roles"), ", ".join(
            _("{role} of {branch}").format(role=label(r, of="member_role"), branch=b)
            for b, r in roles)))
    residence = label(member.residence, of="residence")
    if member.homebound:
        residence += "  (" + _("homebound") + ")"
    lines += [
        _field(_("status"), label(member.status, of="member_status")),
        _field(_("born"), member.birth_date or "-"),
        _field(_("residence"), residence),
        _field(_("phone"), _("{phone}   verified {day}").format(
            phone=member.phone or "-", day=member.phone_verified_on or never)),
        _field(_("home address"), member.home_address or "-"),
    ]
    if away or member.current_address:
        lines.append(_field(_("lives now at"), member.current_address or "-"))
    lines += [
        _field(_("address verified"), member.address_verified_on or never),
        _field(_("family"), f"{member.family_contact_name or '-'}  "
                            f"{member.family_contact_phone or ''}").rstrip(),
        _field(_("interests"), member.interests or "-"),
        _field(_("needs"), member.needs or "-"),
        _field(_("confirmed"), _("{confirmed}   last reached {reached}   failed in a row "
                                 "{failed}").format(confirmed=member.confirmed_on or never,
                                                    reached=member.last_reached_on or never,
                                                    failed=member.failed_contacts)),
    ]
    if member.away_since:
        lines.append(_field(_("away since"), member.away_since))
    contributions = contributions_of(session, member.id)
    if contributions:
        lines.append("  " + _("contributions (newest first)"))
        for on, kind, note in contributions:
            lines.append(f"    {on}  {label(kind, of='contribution')}  {note or ''}".rstrip())
    tasks = session.execute(
        select(OutreachTask.id, OutreachTask.kind, OutreachTask.status, OutreachTask.due_on,
               OutreachTask.volunteer_id)
        .where(OutreachTask.member_id == member.id, OutreachTask.status.in_(list(OPEN_TASK)))
        .order_by(OutreachTask.due_on)).all()
    if tasks:
        lines.append("  " + _("open tasks"))
        for t in tasks:
            lines.append("    " + _("task {id}  {kind}  {status}  due {due}  volunteer "
                                   "{volunteer}").format(
                id=t.id, kind=label(t.kind, of="task_kind"),
                status=label(t.status, of="task_status"), due=t.due_on,
                volunteer=t.volunteer_id or "-"))
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
        lines.append("  " + _("history (newest first)"))
        for h in history:
            lines.append("    " + _("{at}  {old} → {new}  by {who}  {reason}").format(
                at=f"{h.at:%Y-%m-%d %H:%M}", old=label(h.from_status, of="member_status"),
                new=label(h.to_status, of="member_status"),
                who=h.actor_id or _("system"), reason=why(h.reason)).rstrip())
        for c in changes:
            lines.append("    " + _("{at}  {field} changed  by {who}  {reason}").format(
                at=f"{c.at:%Y-%m-%d %H:%M}", field=c.field, who=c.actor_id or _("system"),
                reason=why(c.reason)).rstrip())
    from outreach.tasks.ledger.access_log import MEMBER_CARD, note_shown

    note_shown(session, actor=actor, member_ids=[member.id], door=MEMBER_CARD)
    return "\n".join(lines)


def roles_of(session: Session, member_id: int) -> list[tuple[str, str]]:
    """(branch name, role) of one member; for guarded callers (`member_card`)."""
    return [(b, str(r)) for b, r in session.execute(
        select(Branch.name, BranchRole.role).join(Branch, Branch.id == BranchRole.branch_id)
        .where(BranchRole.member_id == member_id).order_by(Branch.name))]


def contributions_of(session: Session, member_id: int, limit: int = 10) -> list[tuple]:
    """A member's latest contributions: (day, kind, note), newest first."""
    return [tuple(r) for r in session.execute(
        select(Contribution.happened_on, Contribution.kind, Contribution.note)
        .where(Contribution.member_id == member_id)
        .order_by(Contribution.happened_on.desc(), Contribution.id.desc()).limit(limit))]
