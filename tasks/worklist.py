"""What volunteers and coordinators see of the work: task lists, one task, run sheets."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import BadInput, Refused
from db.machines import OPEN_TASK, TaskStatus
from db.models import Attempt, Branch, CampaignKind, Member, OutreachTask, Residence, Volunteer
from tasks.access import Actor, require_coordinator
from tasks.outcomes import MAX_ID, OUTCOMES_BY_KIND, SUCCESS, load_task, require_holder

LIST_FIELDS = ("id", "kind", "status", "member_id", "member", "branch", "volunteer_id", "due",
               "attempts", "next_attempt", "overdue")
#: A run sheet: the list plus what a visit needs, and empty columns to fill in by hand.
#: `outreach outcomes import` takes the filled-in sheet back (task_id,outcome,note,answers).
SHEET_FIELDS = ("task_id", "kind", "member_id", "member", "branch", "due", "attempts",
                "phone", "address", "outcome", "note", "answers")


def list_tasks(session: Session, *, actor: Actor, all_: bool = False,
               branch: str | None = None, volunteer_id: int | None = None,
               kind: str | None = None, status: str | None = None,
               today: dt.date | None = None, limit: int | None = None,
               contacts: bool = False) -> list[dict]:
    """The caller's open tasks by due date; with ``all_`` (coordinators) everyone's."""
    today = today or dt.date.today()
    if all_ or volunteer_id is not None or branch is not None:
        require_coordinator(actor)
    stmt = (select(OutreachTask.id, OutreachTask.kind, OutreachTask.status,
                   OutreachTask.member_id, Member.name, Branch.name, OutreachTask.volunteer_id,
                   OutreachTask.due_on, OutreachTask.attempts, OutreachTask.next_attempt_on,
                   Member.phone, Member.residence, Member.home_address, Member.current_address)
            .join(Member, Member.id == OutreachTask.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .order_by(OutreachTask.due_on, OutreachTask.id))
    if status is not None:
        try:
            st = TaskStatus(status)
        except ValueError:
            raise BadInput(f"unknown status {status[:20]!r}; one of: "
                           + ", ".join(s.value for s in TaskStatus)) from None
        stmt = stmt.where(OutreachTask.status == st)
    else:
        stmt = stmt.where(OutreachTask.status.in_(list(OPEN_TASK)))
    if not all_ and volunteer_id is None and branch is None:
        stmt = stmt.where(OutreachTask.volunteer_id == actor.id)
    if volunteer_id is not None:
        if not 0 < volunteer_id <= MAX_ID:  # no such id (PostgreSQL would refuse the number)
            return []
        stmt = stmt.where(OutreachTask.volunteer_id == volunteer_id)
    if branch is not None:
        from tasks.people import get_branch, subtree_ids

        br = get_branch(session, name=branch)
        if br is None:
            raise BadInput(f"no branch named {branch[:60]!r}")
        stmt = stmt.where(Member.branch_id.in_(subtree_ids(session, branch_id=br.id)))
    if kind is not None:
        try:
            stmt = stmt.where(OutreachTask.kind == CampaignKind(kind))
        except ValueError:
            raise BadInput(f"unknown kind {kind[:20]!r}; one of: "
                           + ", ".join(k.value for k in CampaignKind)) from None
    if limit:
        stmt = stmt.limit(limit)
    out = []
    for r in session.execute(stmt):
        row = {"id": r[0], "kind": str(r[1]), "status": str(r[2]), "member_id": r[3],
               "member": r[4], "branch": r[5], "volunteer_id": r[6], "due": r[7].isoformat(),
               "attempts": r[8], "next_attempt": r[9].isoformat() if r[9] else None,
               "overdue": r[2] in OPEN_TASK and r[7] < today}
        if contacts:
            # A volunteer sees contact details only for their own open tasks (--status done
            # lists closed ones too): the columns stay, empty.
            shown = actor.is_coordinator or r[2] in OPEN_TASK
            row["phone"] = (r[10] or "") if shown else ""
            row["address"] = ((r[13] if r[11] == Residence.AWAY else r[12]) or "") if shown \
                else ""
        out.append(row)
    return out


def sheet_rows(rows: list[dict]) -> list[dict]:
    return [{"task_id": r["id"], "kind": r["kind"], "member_id": r["member_id"],
             "member": r["member"], "branch": r["branch"], "due": r["due"],
             "attempts": r["attempts"], "phone": r.get("phone", ""),
             "address": r.get("address", ""), "outcome": "", "note": "", "answers": ""}
            for r in rows]


def task_card(session: Session, *, task_id: int, actor: Actor,
              today: dt.date | None = None) -> str:
    """What a visit needs: who, where, how to reach them, and what happened before.

    A volunteer sees contact details only for their own open tasks.
    """
    task = load_task(session, task_id)
    require_holder(task, actor)
    if not actor.is_coordinator and task.status not in OPEN_TASK:
        raise Refused(f"task {task.id} is {task.status}; contact details are shown only "
                      "for your open tasks")
    m = session.get(Member, task.member_id)
    branch = session.get(Branch, m.branch_id)
    away = m.residence == Residence.AWAY
    vol = session.get(Volunteer, task.volunteer_id) if task.volunteer_id else None
    lines = [
        f"task {task.id}  {task.kind}  {task.status}  due {task.due_on}"
        f"{'  OVERDUE' if task.status in OPEN_TASK and task.due_on < (today or dt.date.today()) else ''}",
        f"  attempts      {task.attempts} of {task.max_attempts}"
        + (f", try again from {task.next_attempt_on}" if task.next_attempt_on else ""),
        f"  volunteer     {vol.name + f' ({vol.id})' if vol else '-'}",
        f"  member        {m.name}  (id {m.id}, ledger {m.ledger_no}, {branch.name})",
        f"  phone         {m.phone or '-'}",
        f"  address       {(m.current_address if away else m.home_address) or '-'}"
        + ("   (lives away)" if away else ""),
        f"  homebound     {'yes' if m.homebound else 'no'}",
        f"  family        {m.family_contact_name or '-'}  {m.family_contact_phone or ''}".rstrip(),
    ]
    if m.needs:
        lines.append(f"  needs         {m.needs}")
    if task.kind == CampaignKind.ESCALATION:
        lines.append("  what to do    the member could not be reached: call the family contact")
    attempts = session.execute(select(Attempt.recorded_on, Attempt.outcome, Attempt.note)
                               .join(OutreachTask, OutreachTask.id == Attempt.task_id)
                               .where(OutreachTask.member_id == m.id)
                               .order_by(Attempt.id.desc()).limit(8)).all()
    if attempts:
        lines.append("  earlier attempts (newest first)")
        for a in attempts:
            lines.append(f"    {a.recorded_on}  {a.outcome}  {a.note or ''}".rstrip())
    fits = ", ".join(sorted(o.value for o in OUTCOMES_BY_KIND[str(task.kind)]))
    lines.append(f"  outcomes      {fits}  (done = {SUCCESS[str(task.kind)]})")
    return "\n".join(lines)


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1)
