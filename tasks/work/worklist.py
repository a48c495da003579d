"""What volunteers and coordinators see of the work: task lists, one task, the questions
a survey asks — as data; `cli/` prints it, the ledger service (`service/`) sends it as JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, Refused
from outreach.db.machines import OPEN_TASK, TaskStatus
from outreach.db.models import Attempt, Branch, CampaignKind, Member, OutreachTask, Residence, Volunteer
from outreach.i18n import _
from outreach.tasks.kernel.labels import label
from outreach.tasks.access.permissions import HOLDER, PERSON, Actor, require_coordinator, requires
from outreach.tasks.ledger.access_log import CLI, RUNSHEET, note_shown
from outreach.tasks.work.outcomes import (  # noqa: F401 (re-exported)
    MAX_ID, SUCCESS, SURVEY_FIELDS, Recorded, load_task, record_outcome, require_holder,
    survey_fields,
)
from outreach.tasks.work.rules import (
    OUTCOMES_BY_KIND, check_answers, check_outcome, make_up_how, missing_answers,
)
from outreach.tasks.work.runsheet import (  # noqa: F401 (re-exported)
    LIST_FIELDS, SHEET_FIELDS, sheet_rows, to_json,
)


@requires(PERSON)
def list_tasks(session: Session, *, actor: Actor, all_: bool = False,
               branch: str | None = None, volunteer_id: int | None = None,
               kind: str | None = None, status: str | None = None,
               today: dt.date | None = None, limit: int | None = None,
               contacts: bool = False, door: str = RUNSHEET,
               file_name: str | None = None) -> list[dict]:
    """The caller's open tasks by due date; with ``all_`` (coordinators) everyone's.

    With ``contacts`` (the run sheet) each row carries the member's phone and address
    where the caller may see them, and that showing is logged (`tasks.ledger.access_log`:
    ``door``, and ``file_name`` when the sheet goes to a file)."""
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
            raise BadInput(_("unknown status {value}; one of: {codes}").format(
                value=repr(status[:20]), codes=", ".join(s.value for s in TaskStatus))) from None
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
        from outreach.tasks.ledger.people import get_branch, subtree_ids

        br = get_branch(session, name=branch)
        if br is None:
            raise BadInput(_("no branch named {name}").format(name=repr(branch[:60])))
        stmt = stmt.where(Member.branch_id.in_(subtree_ids(session, branch_id=br.id)))
    if kind is not None:
        try:
            stmt = stmt.where(OutreachTask.kind == CampaignKind(kind))
        except ValueError:
            raise BadInput(_("unknown kind {value}; one of: {codes}").format(
                value=repr(kind[:20]), codes=", ".join(k.value for k in CampaignKind))) from None
    if limit:
        stmt = stmt.limit(limit)
    out, shown_ids = [], []
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
            if shown:
                shown_ids.append(r[3])
        out.append(row)
    if shown_ids:
        note_shown(session, actor=actor, member_ids=shown_ids, door=door, file_name=file_name)
    return out


def _contact(member: Member) -> dict:
    """The member's details a visit needs (shown only where `task_view` allows)."""
    away = member.residence == Residence.AWAY
    return {"phone": member.phone, "address": member.current_address if away
            else member.home_address, "residence": str(member.residence),
            "homebound": "yes" if member.homebound else "no",
            "family_contact_name": member.family_contact_name,
            "family_contact_phone": member.family_contact_phone,
            "needs": member.needs, "interests": member.interests}


def _visible(task: OutreachTask, actor: Actor) -> bool:
    """Contact details: a coordinator's for any task, a volunteer's for their own open ones
    (`require_holder` has checked that the task is theirs)."""
    return actor.is_coordinator or task.status in OPEN_TASK


@requires(HOLDER)
def task_view(session: Session, *, task_id: int, actor: Actor,
              today: dt.date | None = None, door: str = CLI) -> dict:
    """What a visit needs, as fields: who, where, how to reach them, what happened before.

    A volunteer sees it only for their own open tasks (`cli.volunteer.render_card` prints
    it; the ledger service returns it as JSON, ``door`` ``service``). The showing is
    logged (`tasks.ledger.access_log`).
    """
    task = load_task(session, task_id)
    require_holder(task, actor)
    if not _visible(task, actor):
        raise Refused(_("task {id} is {status}; contact details are shown only for your "
                        "open tasks").format(id=task.id, status=label(task.status, of="task_status")))
    m = session.get(Member, task.member_id)
    branch = session.get(Branch, m.branch_id)
    vol = session.get(Volunteer, task.volunteer_id) if task.volunteer_id else None
    attempts = session.execute(select(Attempt.recorded_on, Attempt.outcome, Attempt.note)
                               .join(OutreachTask, OutreachTask.id == Attempt.task_id)
                               .where(OutreachTask.member_id == m.id)
                               .order_by(Attempt.id.desc()).limit(8)).all()
    kind = str(task.kind)
    view = {
        "id": task.id, "kind": kind, "status": str(task.status), "due": task.due_on.isoformat(),
        "overdue": task.status in OPEN_TASK and task.due_on < (today or dt.date.today()),
        "attempts": task.attempts, "max_attempts": task.max_attempts,
        "next_attempt": task.next_attempt_on.isoformat() if task.next_attempt_on else None,
        "volunteer": {"id": vol.id, "name": vol.name} if vol else None,
        "member": {"id": m.id, "name": m.name, "ledger_no": m.ledger_no, "branch": branch.name,
                   "away": m.residence == Residence.AWAY, **_contact(m)},
        "earlier": [{"on": a.recorded_on.isoformat(), "outcome": str(a.outcome),
                     "note": a.note} for a in attempts],
        "outcomes": sorted(o.value for o in OUTCOMES_BY_KIND[kind]),
        "success": str(SUCCESS[kind]),
    }
    if kind in (CampaignKind.NOTICE, CampaignKind.MAKE_UP):
        view["meeting"] = _meeting_card(session, task)
    if kind == CampaignKind.MAKE_UP:
        view["how"] = str(make_up_how(homebound=m.homebound,
                                      away=m.residence == Residence.AWAY))
    note_shown(session, actor=actor, member_ids=[m.id], door=door)
    return view


def _meeting_card(session: Session, task: OutreachTask) -> dict | None:
    """The meeting a notice or make-up task is about, and the member's attendance at it."""
    from outreach.db.models import Attendance, CampaignRun, Meeting

    row = session.execute(
        select(Meeting, Attendance.status, Attendance.reason, Attendance.member_answer,
               Attendance.member_reason, Attendance.studied_at)
        .join(CampaignRun, CampaignRun.meeting_id == Meeting.id)
        .outerjoin(Attendance, (Attendance.meeting_id == Meeting.id)
                   & (Attendance.member_id == task.member_id))
        .where(CampaignRun.id == task.run_id)).first()
    if row is None:
        return None
    mt, status, reason, said, said_why, studied = row
    return {"id": mt.id, "kind": str(mt.kind), "status": str(mt.status),
            "on": (mt.held_on or mt.planned_on).isoformat(), "topic": mt.topic,
            "material": mt.material, "place": mt.place, "remote": str(mt.remote),
            "remote_details": mt.remote_details,
            "attendance": str(status) if status else None, "attendance_reason": reason,
            # what the member said through their own link (`tasks.links.member_links`)
            "member_answer": str(said) if said else None, "member_reason": said_why,
            "studied_at": studied.isoformat(sep=" ", timespec="minutes") if studied
            else None}


# --- recording, with the survey's questions asked one by one ------------------------------


@dataclass
class AnswerForm:
    """A survey that reached the member needs answers: the questions to ask, which are
    required, and (for the caller's own open task) the values on record, so that the CLI
    can show them in each prompt (Enter keeps them)."""

    task_id: int
    kind: str
    outcome: str
    missing: list[str]
    fields: dict[str, str]
    on_record: dict[str, str]


@requires(HOLDER)
def record_or_ask(session: Session, *, task_id: int, outcome: str | None, actor: Actor,
                  note: str | None = None, answers: dict[str, str] | None = None,
                  today: dt.date | None = None,
                  seen_attempts: int | None = None,
                  door: str = CLI) -> Recorded | AnswerForm:
    """Record an outcome (``None``: the kind's success, as `task done`) — or, when a survey
    still needs answers, record nothing and return the questions to ask (`AnswerForm`).

    The caller asks a person (one answer at a time, each checked by
    `tasks.work.rules.check_answer`) and then calls `tasks.work.outcomes.record_outcome` with them.
    """
    answers = dict(answers or {})
    task = load_task(session, task_id)
    require_holder(task, actor)  # not yours: refused before any question about the visit
    kind = str(task.kind)
    code = check_outcome(kind, outcome or SUCCESS[kind].value)
    missing = missing_answers(kind, code, answers)
    if not missing:
        return record_outcome(session, task_id=task_id, outcome=code.value, actor=actor,
                              note=note, answers=answers, today=today,
                              seen_attempts=seen_attempts)
    # The answers given must be right before anything is asked ('same' stands in for what
    # is still missing, so only the given answers are judged here).
    check_answers(kind, code, {**{k: "same" for k in missing}, **answers})
    on_record = {}
    if _visible(task, actor):
        member = session.get(Member, task.member_id)
        on_record = {k: v for k, v in _contact(member).items() if v}
        if any(k in on_record for k in ("phone", "address", "family_contact_name",
                                        "family_contact_phone")):
            note_shown(session, actor=actor, member_ids=[member.id], door=door)
    return AnswerForm(task.id, kind, code.value, missing, survey_fields(), on_record)
