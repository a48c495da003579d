"""Recording what happened: one rule for the CLI, the results-file import and the flows.

`record_outcome` checks that the outcome fits the task's kind and that survey answers are
complete and well-formed, writes the attempt, moves the task and the member through their
state machines (`db.state`) and updates the member's data with history. Optimistic
locking (the ``version`` columns) makes a concurrent change of the same task or member
fail cleanly with `Conflict` instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import crashpoints
from db.errors import BadInput, NotFound, Refused, shown
from db.machines import CONTACTABLE_MEMBER, OPEN_TASK, MemberStatus, TaskStatus
from db.models import (
    Attempt,
    Campaign,
    CampaignKind,
    CampaignRun,
    Member,
    MemberChange,
    Outcome,
    OutreachTask,
    Residence,
    Role,
    Volunteer,
)
from db.state import first_or_add, flush, move_member, move_task
from tasks.access import Actor
from tasks.csvfile import CONTROL

O = Outcome
K = CampaignKind

_CALL = {O.REACHED, O.NO_ANSWER, O.LEFT_MESSAGE, O.CALLBACK_REQUESTED, O.WRONG_NUMBER, O.MOVED,
         O.REFUSED, O.DO_NOT_CONTACT, O.DECEASED, O.TEMPORARILY_AWAY}
#: Which outcomes fit which kind of task.
OUTCOMES_BY_KIND: dict[str, frozenset[Outcome]] = {
    K.SURVEY: frozenset(_CALL | {O.NOT_HOME, O.INACCESSIBLE}),
    K.PHONE_VISIT: frozenset(_CALL),
    K.DELIVERY: frozenset({O.DELIVERED, O.DELIVERED_TO_FAMILY, O.NOT_HOME, O.MOVED, O.REFUSED,
                           O.DO_NOT_CONTACT, O.DECEASED, O.INACCESSIBLE, O.TEMPORARILY_AWAY}),
    K.ESCALATION: frozenset(_CALL),
}
#: What `outreach task done` records for each kind.
SUCCESS: dict[str, Outcome] = {K.SURVEY: O.REACHED, K.PHONE_VISIT: O.REACHED,
                               K.DELIVERY: O.DELIVERED, K.ESCALATION: O.REACHED}
#: Outcomes that close the task as done.
DONE = frozenset({O.REACHED, O.DELIVERED, O.DELIVERED_TO_FAMILY, O.MOVED, O.REFUSED,
                  O.DO_NOT_CONTACT, O.DECEASED})
#: Attempts that did not reach the member: they count towards "unreachable".
FAILED_CONTACT = frozenset({O.NO_ANSWER, O.NOT_HOME, O.LEFT_MESSAGE, O.WRONG_NUMBER})
#: Consecutive failed contacts that make a member unreachable.
UNREACHABLE_AFTER = 3

#: Survey answers: key → description. Required ones must be given when a survey reaches.
SURVEY_FIELDS: dict[str, str] = {
    "phone": "the member's phone number (or 'same')",
    "address": "where the member lives now (or 'same')",
    "residence": "local or away",
    "homebound": "yes or no",
    "family_contact_name": "a family member to call (or 'same' / 'none')",
    "family_contact_phone": "that family member's phone (or 'same' / 'none')",
    "needs": "what the member needs (free text)",
    "interests": "comma-separated interests",
}
SURVEY_REQUIRED = ("phone", "address", "residence", "homebound")
MOVED_FIELDS = {"residence", "address", "phone", "moved_out"}
#: Answers stored in a column narrower than 500 characters.
ANSWER_LIMIT = {"family_contact_name": 200}
_PHONE = re.compile(r"^[0-9 +\-().#*/x]{3,40}$")


@dataclass
class Recorded:
    task_id: int
    outcome: str
    task_status: str
    member_id: int
    member_status: str
    attempts: int
    next_attempt_on: dt.date | None
    pending_confirmation: bool
    escalation_task_id: int | None = None
    duplicate: bool = False


def parse_answers(pairs: list[str]) -> dict[str, str]:
    """``["phone=555 1234", "homebound=no"]`` → dict; refuses malformed or unknown keys."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise BadInput(f"an answer must look like KEY=VALUE, not {shown(item)}")
        if key in out:
            raise BadInput(f"--answer {key} is given twice")
        out[key] = value.strip()
    return out


def check_outcome(kind: str, outcome: str) -> Outcome:
    try:
        code = Outcome(outcome.strip().lower())
    except ValueError:
        raise BadInput(f"unknown outcome {shown(outcome)}; one of: "
                       + ", ".join(o.value for o in Outcome)) from None
    fits = OUTCOMES_BY_KIND[kind]
    if code not in fits:
        raise BadInput(f"outcome {code} does not fit a {kind} task; one of: "
                       + ", ".join(sorted(o.value for o in fits)))
    return code


def missing_answers(kind: str, outcome: Outcome, answers: dict[str, str]) -> list[str]:
    """Required answer keys not given (a survey that reached needs its answers)."""
    if kind == K.SURVEY and outcome == O.REACHED:
        return [k for k in SURVEY_REQUIRED if not answers.get(k)]
    return []


def check_answers(kind: str, outcome: Outcome, answers: dict[str, str]) -> dict[str, str]:
    """Validate answer keys and values; errors name the key, never echo contact details."""
    allowed = set(SURVEY_FIELDS) if (kind == K.SURVEY and outcome == O.REACHED) else \
        (MOVED_FIELDS if outcome == O.MOVED else set())
    for key, value in answers.items():
        if key not in allowed:
            what = ", ".join(sorted(allowed)) if allowed else "none"
            raise BadInput(f"answer {shown(key)} does not fit outcome {outcome} of a {kind} task "
                           f"(answers it takes: {what})")
        if len(value) > ANSWER_LIMIT.get(key, 500) or CONTROL.search(value):
            raise BadInput(f"answer {key} is too long or contains control characters")
        low = value.lower()
        if key == "residence" and low not in ("local", "away", "same"):
            raise BadInput("answer residence must be local, away or same")
        if key in ("homebound", "moved_out") and low not in ("yes", "no", "true", "false",
                                                             "1", "0", "same"):
            raise BadInput(f"answer {key} must be yes or no")
        if key in ("phone", "family_contact_phone") and low not in ("same", "none", "") \
                and not _PHONE.match(value):
            raise BadInput(f"answer {key} is not a phone number")
    missing = missing_answers(kind, outcome, answers)
    if missing:
        raise BadInput("a survey that reached the member needs answers: "
                       + ", ".join(f"{k} ({SURVEY_FIELDS[k]})" for k in missing))
    return answers


#: Ids are INTEGER columns: a larger number is no id (and PostgreSQL or SQLite would raise).
MAX_ID = 2**31 - 1


def load_task(session: Session, task_id: int) -> OutreachTask:
    task = session.get(OutreachTask, task_id) if 0 < task_id <= MAX_ID else None
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


def require_holder(task: OutreachTask, actor: Actor) -> None:
    """Only the task's volunteer (or a coordinator) may act on it."""
    if actor.is_coordinator:
        return
    if task.volunteer_id != actor.id:
        raise Refused(f"task {task.id} is not yours")


def _set(session: Session, member: Member, field: str, value, actor_id: int | None,
         reason: str) -> None:
    old = getattr(member, field)
    if old == value:
        return
    setattr(member, field, value)
    session.add(MemberChange(member_id=member.id, field=field, old_value=_txt(old),
                             new_value=_txt(value), actor_id=actor_id, reason=reason))


def _txt(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _yes(value: str) -> bool:
    return value.lower() in ("yes", "true", "1")


def _apply_answers(session: Session, member: Member, answers: dict[str, str], today: dt.date,
                   actor_id: int | None, reason: str) -> None:
    res = answers.get("residence", "same").lower()
    if res != "same":
        _set(session, member, "residence", Residence(res), actor_id, reason)
    if "address" in answers and answers["address"].lower() != "same":
        field = "current_address" if member.residence == Residence.AWAY else "home_address"
        _set(session, member, field, answers["address"], actor_id, reason)
    if "phone" in answers and answers["phone"].lower() != "same":
        _set(session, member, "phone", answers["phone"] or None, actor_id, reason)
    if "homebound" in answers and answers["homebound"].lower() != "same":
        _set(session, member, "homebound", _yes(answers["homebound"]), actor_id, reason)
    for key in ("family_contact_name", "family_contact_phone"):
        if key in answers and answers[key].lower() != "same":
            value = None if answers[key].lower() in ("none", "") else answers[key]
            _set(session, member, key, value, actor_id, reason)
    for key in ("needs", "interests"):
        if answers.get(key):
            _set(session, member, key, answers[key], actor_id, reason)


def _cancel_other_tasks(session: Session, member_id: int, keep: int | None, actor_id: int | None,
                        reason: str, kinds: set[str] | None = None) -> int:
    n = 0
    stmt = select(OutreachTask).where(OutreachTask.member_id == member_id,
                                      OutreachTask.status.in_(list(OPEN_TASK)))
    for other in session.scalars(stmt):
        if other.id == keep or (kinds is not None and other.kind not in kinds):
            continue
        move_task(session, other, TaskStatus.CANCELLED, actor_id=actor_id, reason=reason)
        n += 1
    return n


def record_outcome(session: Session, *, task_id: int, outcome: str, actor: Actor,
                   note: str | None = None, answers: dict[str, str] | None = None,
                   today: dt.date | None = None, source_key: str | None = None,
                   expected_version: int | None = None) -> Recorded:
    """Record one attempt at a task and apply its effects (see PRODUCT.md's outcome table)."""
    today = today or dt.date.today()
    answers = dict(answers or {})
    if note is not None and (len(note) > 2000 or CONTROL.search(note)):
        raise BadInput("the note is too long (2000 characters at most) or has control characters")
    if source_key is not None:
        done = session.scalars(select(Attempt).where(Attempt.source_key == source_key)).first()
        if done is not None:
            task = load_task(session, done.task_id)
            member = session.get(Member, task.member_id)
            return Recorded(task.id, str(done.outcome), str(task.status), member.id,
                            str(member.status), task.attempts, task.next_attempt_on,
                            task.pending_confirmation, duplicate=True)
    task = load_task(session, task_id)
    require_holder(task, actor)
    if expected_version is not None and task.version != expected_version:
        raise Refused(f"task {task.id} changed since you looked at it; look again")
    code = check_outcome(str(task.kind), outcome)
    check_answers(str(task.kind), code, answers)
    if task.status != TaskStatus.ASSIGNED:
        raise Refused(f"task {task.id} is {task.status}; only an assigned task takes outcomes")
    member = session.get(Member, task.member_id)
    retry_days = session.scalar(select(Campaign.retry_days).join(
        CampaignRun, CampaignRun.campaign_id == Campaign.id).where(CampaignRun.id == task.run_id))
    who = task.volunteer_id
    reason = f"task {task.id}: {code}"
    session.add(Attempt(task_id=task.id, volunteer_id=who, recorded_by=actor.id, outcome=code,
                        note=note, answers=json.dumps(answers, ensure_ascii=False) if answers
                        else None, source_key=source_key, recorded_on=today))
    member.last_contact_on = today
    escalation_id = None
    kind = str(task.kind)

    if code in DONE:
        task.outcome = code
        task.next_attempt_on = None
        if code == O.DECEASED:
            task.pending_confirmation = True
        move_task(session, task, TaskStatus.DONE, actor_id=actor.id, reason=reason)
    else:
        task.attempts += 1
        task.next_attempt_on = today + dt.timedelta(days=retry_days)
        if task.attempts >= task.max_attempts:
            task.outcome = code
            task.next_attempt_on = None
            move_task(session, task, TaskStatus.FAILED, actor_id=actor.id,
                      reason=f"{reason} (attempts exhausted)")
        else:
            flush(session, f"task {task.id}")

    if code in (O.REACHED,) and kind != K.ESCALATION:
        member.failed_contacts = 0
        member.last_reached_on = today
        member.last_reached_by = who
        member.phone_verified_on = today
        if kind == K.SURVEY:
            _apply_answers(session, member, answers, today, actor.id, reason)
            member.confirmed_on = today
            member.address_verified_on = today
            member.family_contact_verified_on = today
        if member.status in (MemberStatus.UNVERIFIED, MemberStatus.UNREACHABLE):
            move_member(session, member, MemberStatus.ACTIVE, actor_id=actor.id, reason=reason)
    elif code == O.REACHED:  # escalation: the family contact answered
        member.family_contact_verified_on = today
    elif code in (O.DELIVERED, O.DELIVERED_TO_FAMILY):
        member.failed_contacts = 0
        if code == O.DELIVERED:
            member.last_reached_on = today
            member.last_reached_by = who
    elif code in FAILED_CONTACT and kind == K.ESCALATION:
        pass  # a call to the family that failed says nothing new about the member
    elif code in FAILED_CONTACT:
        member.failed_contacts += 1
        if code == O.WRONG_NUMBER:
            _set(session, member, "phone_verified_on", None, actor.id, reason)
            member.confirmed_on = None  # the next survey picks the member up again
    elif code == O.MOVED:
        _apply_answers(session, member, {k: v for k, v in answers.items()
                                         if k in ("residence", "address", "phone")} or
                       {"residence": "away"}, today, actor.id, reason)
        if member.residence == Residence.AWAY:
            # Away members get phone visits instead of doorstep deliveries.
            _cancel_other_tasks(session, member.id, task.id, actor.id,
                                f"member moved away ({reason})", kinds={K.DELIVERY})
        if _yes(answers.get("moved_out", "no")):
            task.pending_confirmation = True
    elif code == O.DO_NOT_CONTACT:
        if member.status in CONTACTABLE_MEMBER or member.status == MemberStatus.MOVED_OUT:
            move_member(session, member, MemberStatus.DO_NOT_CONTACT, actor_id=actor.id,
                        reason=reason)
        _cancel_other_tasks(session, member.id, task.id, actor.id, f"do not contact ({reason})")

    if member.failed_contacts >= UNREACHABLE_AFTER and member.status in (
            MemberStatus.UNVERIFIED, MemberStatus.ACTIVE):
        move_member(session, member, MemberStatus.UNREACHABLE, actor_id=actor.id,
                    reason=f"{member.failed_contacts} failed contacts in a row")
        escalation_id = escalate(session, member=member, today=today, actor_id=actor.id)
    flush(session, f"task {task.id}")
    crashpoints.reach("outcome.recorded")
    return Recorded(task.id, str(code), str(task.status), member.id, str(member.status),
                    task.attempts, task.next_attempt_on, task.pending_confirmation,
                    escalation_id)


def coordinator_for(session: Session, branch_id: int) -> int | None:
    """An active coordinator of the branch or the nearest branch above it."""
    from db.models import Branch

    seen = set()
    bid: int | None = branch_id
    while bid is not None and bid not in seen:
        seen.add(bid)
        vid = session.scalar(select(Volunteer.id).where(
            Volunteer.branch_id == bid, Volunteer.role == Role.COORDINATOR,
            Volunteer.active.is_(True)).order_by(Volunteer.id).limit(1))
        if vid is not None:
            return vid
        bid = session.scalar(select(Branch.parent_id).where(Branch.id == bid))
    return session.scalar(select(Volunteer.id).where(
        Volunteer.role == Role.COORDINATOR, Volunteer.active.is_(True))
        .order_by(Volunteer.id).limit(1))


def escalation_run(session: Session, today: dt.date) -> CampaignRun:
    """Today's escalation run, created (with the escalation campaign) if missing — also
    when two volunteers' outcomes escalate at the same moment (`first_or_add`)."""
    camp = first_or_add(
        session, select(Campaign).where(Campaign.name == K.ESCALATION.value),
        lambda: Campaign(name=K.ESCALATION.value, kind=K.ESCALATION, due_days=7))
    # One run per day, not per month: (run, member) is unique, and a member who is reached
    # and then becomes unreachable again later in the same month needs a new escalation.
    period = today.isoformat()
    return first_or_add(
        session, select(CampaignRun).where(CampaignRun.campaign_id == camp.id,
                                           CampaignRun.period == period),
        lambda: CampaignRun(campaign_id=camp.id, period=period))


def escalate(session: Session, *, member: Member, today: dt.date,
             actor_id: int | None) -> int | None:
    """An escalation task for a coordinator of the member's branch: call the family."""
    run = escalation_run(session, today)
    existing = session.scalar(select(OutreachTask.id).where(
        OutreachTask.member_id == member.id, OutreachTask.kind == K.ESCALATION,
        OutreachTask.status.in_(list(OPEN_TASK))))
    if existing is not None:
        return existing
    if session.scalar(select(OutreachTask.id).where(OutreachTask.run_id == run.id,
                                                    OutreachTask.member_id == member.id)):
        return None  # already escalated (and closed) today
    coord = coordinator_for(session, member.branch_id)
    camp = session.get(Campaign, run.campaign_id)
    task = OutreachTask(run_id=run.id, member_id=member.id, kind=K.ESCALATION,
                        status=TaskStatus.ASSIGNED if coord else TaskStatus.OPEN,
                        volunteer_id=coord, status_by=actor_id,
                        status_reason="escalation: call the family contact",
                        max_attempts=camp.max_attempts,
                        due_on=today + dt.timedelta(days=camp.due_days),
                        closes_on=today + dt.timedelta(days=camp.due_days * 4))
    session.add(task)
    flush(session, f"escalation for member {member.id}")
    return task.id


def release(session: Session, *, task_id: int, actor: Actor) -> OutreachTask:
    """Hand a task back: it becomes open for someone else."""
    task = load_task(session, task_id)
    require_holder(task, actor)
    move_task(session, task, TaskStatus.OPEN, actor_id=actor.id,
              reason=f"released by {actor.id}", volunteer_id=None)
    return task


def reassign(session: Session, *, task_id: int, volunteer_id: int, actor: Actor) -> OutreachTask:
    """Give a task to another volunteer (coordinators)."""
    from tasks.access import require_coordinator

    require_coordinator(actor)
    task = load_task(session, task_id)
    vol = session.get(Volunteer, volunteer_id) if 0 < volunteer_id <= MAX_ID else None
    if vol is None:
        raise NotFound(f"no volunteer with id {volunteer_id}")
    if not vol.active:
        raise Refused(f"volunteer {vol.id} is not active")
    if task.volunteer_id == vol.id:
        raise Refused(f"task {task.id} is already with volunteer {vol.id}")
    move_task(session, task, TaskStatus.ASSIGNED, actor_id=actor.id,
              reason=f"reassigned from {task.volunteer_id or 'nobody'} to {vol.id}",
              volunteer_id=vol.id)
    return task


def skip(session: Session, *, task_id: int, reason: str, actor: Actor) -> OutreachTask:
    """Cancel a task with a reason (coordinators)."""
    from tasks.access import require_coordinator

    require_coordinator(actor)
    if not reason.strip():
        raise BadInput("a skip needs a reason")
    if CONTROL.search(reason):
        raise BadInput("the reason contains control characters")
    task = load_task(session, task_id)
    move_task(session, task, TaskStatus.CANCELLED, actor_id=actor.id,
              reason=f"skipped: {reason.strip()[:300]}")
    return task


def confirm(session: Session, *, member_ref: str, what: str, actor: Actor) -> Member:
    """A coordinator confirms a recorded deceased (or moved-out) outcome.

    The confirmer must be someone other than whoever made or recorded the attempt.
    """
    from tasks.access import require_coordinator
    from tasks.people import find_member

    require_coordinator(actor)
    if what not in ("deceased", "moved"):
        raise BadInput(f"confirm takes deceased or moved, not {what[:20]!r}")
    member = find_member(session, ref=member_ref)
    code = O.DECEASED if what == "deceased" else O.MOVED
    row = session.execute(
        select(Attempt, OutreachTask).join(OutreachTask, OutreachTask.id == Attempt.task_id)
        .where(OutreachTask.member_id == member.id, OutreachTask.pending_confirmation.is_(True),
               Attempt.outcome == code, Attempt.confirmed_by.is_(None))
        .order_by(Attempt.id.desc())).first()
    if row is None:
        raise Refused(f"member {member.id} has no {what} outcome waiting for confirmation")
    attempt, task = row
    if actor.id in (attempt.volunteer_id, attempt.recorded_by):
        raise Refused(f"you recorded this {what} outcome; another coordinator must confirm it")
    target = MemberStatus.DECEASED if what == "deceased" else MemberStatus.MOVED_OUT
    reason = f"confirmed {what} (task {task.id})"
    move_member(session, member, target, actor_id=actor.id, reason=reason, coordinator=True)
    attempt.confirmed_by = actor.id
    attempt.confirmed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    task.pending_confirmation = False
    _cancel_other_tasks(session, member.id, None, actor.id, reason)
    flush(session, f"member {member.id}")
    return member
