"""Recording what happened: one rule for the CLI, the results-file import and the flows.

`record_outcome` checks that the outcome fits the task's kind and that survey answers are
complete and well-formed, writes the attempt, moves the task and the member through their
state machines (`db.state`) and updates the member's data with history. What each outcome
does is data — the outcome table `tasks.work.rules.OUTCOMES` — and each named effect of it is
one small function here (`EFFECTS`). Optimistic
locking (the ``version`` columns) makes a concurrent change of the same task or member
fail cleanly with `Conflict` instead of being lost.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outreach.db import crashpoints
from outreach.db.errors import BadInput, Conflict, NotFound, Refused
from outreach.db.machines import (
    CONTACTABLE_MEMBER,
    MISSED,
    OPEN_TASK,
    AttendanceStatus,
    CareStatus,
    MeetingStatus,
    MemberStatus,
    TaskStatus,
)
from outreach.db.models import (
    Attempt,
    Attendance,
    Campaign,
    CampaignKind,
    CampaignRun,
    CareOccasion,
    Meeting,
    Member,
    Outcome,
    OutreachTask,
    Residence,
    Volunteer,
)
from outreach.db.state import (
    changed_meanwhile,
    first_or_add,
    flush,
    move_attendance,
    move_care,
    move_member,
    move_task,
    set_member_fields,
)
from outreach.i18n import N_, _
from outreach.tasks.kernel.labels import label
from outreach.tasks.access.permissions import COORDINATOR, HOLDER, Actor, requires
from outreach.tasks.ledger import people
from outreach.tasks.work import rules as work_rules
from outreach.tasks.kernel import rules
from outreach.tasks.work.rules import (  # noqa: F401 (the table and the answer checks live in tasks.rules)
    OUTCOMES_BY_KIND, SURVEY_REQUIRED, UNREACHABLE_AFTER, Effect, check_answers, check_outcome,
    missing_answers, parse_answers,
)

O = Outcome
K = CampaignKind
#: What `outreach task done` records for each kind (`tasks.work.rules.DONE_OUTCOME`).
SUCCESS = work_rules.DONE_OUTCOME
#: Outcomes that close the task as done (`tasks.work.rules.CLOSING`).
DONE = work_rules.CLOSING
#: Survey answers: key → what to give (prompts and help), in the language of the import;
#: `survey_fields` gives them in the language in force (the ledger service's caller's).
SURVEY_FIELDS: dict[str, str] = {k: work_rules.answer_help(k) for k in work_rules.SURVEY_ANSWERS}


def survey_fields() -> dict[str, str]:
    """Survey answers: key → what to give, in the current language."""
    return {k: work_rules.answer_help(k) for k in work_rules.SURVEY_ANSWERS}


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


#: Ids are INTEGER columns: a larger number is no id (and PostgreSQL or SQLite would raise).
MAX_ID = 2**31 - 1


def load_task(session: Session, task_id: int, *, lock: bool = False) -> OutreachTask:
    """The task, or NotFound. ``lock``: for a change of it, take its member's row lock and
    then its own, in that order.

    On PostgreSQL writers must lock rows in one order or they deadlock. Recording
    ``reached`` locks the member while inserting the attempt (the contact summary's
    trigger) and then the task; recording ``refused`` locked the task first and the member
    after; an outcome that cancels the member's other tasks locks them after the member.
    Every writer now starts with the member and then the task: two hands on one task, or
    on two tasks of one member, queue instead of deadlocking, and the second reads the task
    as the first left it ("task 9 is done"). SQLite takes no row locks (its writers queue
    on ``BEGIN IMMEDIATE``).
    """
    task = None
    if 0 < task_id <= MAX_ID:
        key_share = {"key_share": True} if lock else None  # FOR NO KEY UPDATE
        try:
            if lock:  # a plain column read: the task's object is loaded under its lock
                member_id = session.scalar(select(OutreachTask.member_id)
                                           .where(OutreachTask.id == task_id))
                if member_id is not None:
                    session.get(Member, member_id, with_for_update=key_share)
            task = session.get(OutreachTask, task_id, with_for_update=key_share)
        except StaleDataError as exc:  # this session held an older version of one of them
            raise changed_meanwhile(_("task {id}").format(id=task_id)) from exc
    if task is None:
        raise NotFound(_("no task with id {id}").format(id=task_id))
    return task


def require_holder(task: OutreachTask, actor: Actor) -> None:
    """Only the task's volunteer (or a coordinator) may act on it."""
    if actor.is_coordinator:
        return
    if task.volunteer_id != actor.id:
        raise Refused(_("task {id} is not yours").format(id=task.id))


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


# --- the outcome table's effects (`tasks.work.rules.Effect`), one function each ----------------------


@dataclass
class Visit:
    """One recorded attempt, as the effects see it."""

    session: Session
    task: OutreachTask
    member: Member
    #: Checked and normalised (`tasks.work.rules.check_answers`): `rules.SAME`, None (clear) or a value.
    answers: dict[str, str | None]
    today: dt.date
    actor_id: int | None
    reason: str

    def set(self, field: str, value) -> None:
        """Change one field of the member, with a history row."""
        set_member_fields(self.session, self.member, {field: value}, actor_id=self.actor_id,
                          reason=self.reason)


def _apply_answers(v: Visit, keys: tuple[str, ...]) -> None:
    """Write the answers among ``keys`` to the member (`same` keeps, None clears)."""
    from outreach.db.codes import MovementSource

    given = {k: a for k, a in v.answers.items() if k in keys and a != rules.SAME}
    write_answers(v.session, v.member, given, actor_id=v.actor_id, reason=v.reason,
                  today=v.today,
                  source=MovementSource.SURVEY if str(v.task.kind) == K.SURVEY.value
                  else MovementSource.OUTCOME)


def write_answers(session: Session, member: Member, given: dict[str, str | None], *,
                  actor_id: int | None, reason: str, today: dt.date, source,
                  verified: tuple[str, ...] = ()) -> None:
    """Write checked answers (`rules.check_answer`: a value, or None to clear) to the member,
    each changed field with its history row (`db.state.set_member_fields`, ``actor_id`` and
    ``reason``), a change of residence — or of the address while away — with its movement
    (`tasks.ledger.movements`, ``source``). The address goes to the current address of a
    member living away, else to the home address. Keys: residence, address, homebound,
    phone, family_contact_name, family_contact_phone, needs, interests (others are ignored).
    ``verified``: the ``*_verified_on`` / ``confirmed_on`` fields confirmed today (each a
    history row too).

    A step of the guarded functions that change a member (`record_outcome`, the member's
    own link `tasks.links.member_links`): they checked who acts."""
    from outreach.tasks.ledger.movements import record_movement

    def put(field: str, value) -> None:
        set_member_fields(session, member, {field: value}, actor_id=actor_id, reason=reason)

    before, before_address = str(member.residence), member.current_address
    if "residence" in given:
        put("residence", Residence(given["residence"]))
    if "address" in given:
        put("current_address" if member.residence == Residence.AWAY else "home_address",
            given["address"])
    record_movement(session, member, str(member.residence), old_residence=before,
                    source=source, recorded_by=actor_id, happened_on=today,
                    address_changed=before == Residence.AWAY.value
                    and member.current_address != before_address)
    if "homebound" in given:
        put("homebound", given["homebound"] == "yes")
    for key in ("phone", "family_contact_name", "family_contact_phone", "needs", "interests"):
        if key in given:
            put(key, given[key])
    for name in verified:
        if name not in ("phone_verified_on", "address_verified_on",
                        "family_contact_verified_on", "confirmed_on"):
            raise ValueError(f"not a confirmation date: {name}")
        put(name, today)


def _tried(v: Visit) -> None:
    v.member.last_contact_on = v.today


def _contact(v: Visit) -> None:
    v.member.failed_contacts = 0


def _reached(v: Visit) -> None:
    v.member.last_reached_on = v.today
    v.member.last_reached_by = v.task.volunteer_id


def _phone_verified(v: Visit) -> None:
    v.member.phone_verified_on = v.today


def _survey(v: Visit) -> None:
    _apply_answers(v, work_rules.SURVEY_ANSWERS)
    m = v.member
    m.confirmed_on = m.address_verified_on = m.family_contact_verified_on = v.today


def _activate(v: Visit) -> None:
    if v.member.status in (MemberStatus.UNVERIFIED, MemberStatus.UNREACHABLE):
        move_member(v.session, v.member, MemberStatus.ACTIVE, actor_id=v.actor_id,
                    reason=v.reason)


def _failed_contact(v: Visit) -> None:
    v.member.failed_contacts += 1


def _phone_unverified(v: Visit) -> None:
    v.set("phone_verified_on", None)
    v.member.confirmed_on = None  # the next survey picks the member up again


def _family_verified(v: Visit) -> None:
    v.member.family_contact_verified_on = v.today


def _family_unverified(v: Visit) -> None:
    v.set("family_contact_verified_on", None)


def _moved(v: Visit) -> None:
    if not any(k in v.answers for k in ("residence", "address", "phone")):
        v.answers = {**v.answers, "residence": Residence.AWAY.value}
    _apply_answers(v, ("residence", "address", "phone"))
    if v.member.residence == Residence.AWAY:
        # Away members get phone visits instead of doorstep deliveries.
        _cancel_other_tasks(v.session, v.member.id, v.task.id, v.actor_id,
                            f"member moved away ({v.reason})", kinds={K.DELIVERY})
    if v.answers.get("moved_out") == "yes":
        v.task.pending_confirmation = True


def _do_not_contact(v: Visit) -> None:
    m = v.member
    if m.status in CONTACTABLE_MEMBER or m.status == MemberStatus.MOVED_OUT:
        move_member(v.session, m, MemberStatus.DO_NOT_CONTACT, actor_id=v.actor_id,
                    reason=v.reason)
    _cancel_other_tasks(v.session, m.id, v.task.id, v.actor_id, f"do not contact ({v.reason})")


def _deceased(v: Visit) -> None:
    v.task.pending_confirmation = True  # `confirm` by a second coordinator


def _attendance_of(v: Visit) -> tuple[Attendance, Meeting] | None:
    """The member's attendance at the meeting the task's run is for (None: no such row)."""
    row = v.session.execute(
        select(Attendance, Meeting)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(CampaignRun, CampaignRun.meeting_id == Meeting.id)
        .where(CampaignRun.id == v.task.run_id, Attendance.member_id == v.member.id)).first()
    return None if row is None else (row[0], row[1])


#: What a notice's answer notes on an attendance that stays invited.
INTENTION = {"remote": "will join remotely", "present": "will come"}


def _notice_answer(v: Visit) -> None:
    """Excused: the attendance → excused with the reason. Remote / present: the intention
    is noted on the attendance, which stays invited until the meeting's marks. Nothing on
    a cancelled or closed meeting (the answer stays in the attempt)."""
    said = v.answers.get("attendance")
    found = _attendance_of(v) if said not in (None, rules.SAME) else None
    if found is None:
        return
    att, meeting = found
    if meeting.status in (MeetingStatus.CANCELLED, MeetingStatus.CLOSED):
        return
    reason = v.answers.get("reason")
    reason = None if reason in (None, rules.SAME) else str(reason)
    if said == AttendanceStatus.EXCUSED:
        if att.status == AttendanceStatus.EXCUSED:
            att.reason = reason
        else:
            move_attendance(v.session, att, AttendanceStatus.EXCUSED, actor_id=v.actor_id,
                            reason=v.reason, note=reason, meeting=meeting)
    elif att.status == AttendanceStatus.INVITED:
        att.reason = INTENTION[said] + (f": {reason}" if reason else "")


def _made_up(v: Visit) -> None:
    """The excused or absent attendance → made_up, on the day, how the outcome says."""
    found = _attendance_of(v)
    if found is None or found[0].status not in MISSED:
        return  # already made up, or marked present after all: nothing to catch up
    att, meeting = found
    move_attendance(v.session, att, AttendanceStatus.MADE_UP, actor_id=v.actor_id,
                    reason=v.reason, made_up_on=v.today,
                    made_up_how=work_rules.MAKE_UP_HOW[Outcome(v.task.outcome)], meeting=meeting)


def _care_visited(v: Visit) -> None:
    """The care occasions this care visit was for → visited, when the visit is within their
    window (after it, the daily care planning marks the occasion missed). Here, in the
    task engine, so that recording an outcome needs nothing of `tasks.care`."""
    for occ in v.session.scalars(select(CareOccasion).where(
            CareOccasion.task_id == v.task.id, CareOccasion.status == CareStatus.DUE.value)):
        if occ.window_from <= v.today <= occ.window_to:
            move_care(v.session, occ, CareStatus.VISITED, actor_id=v.actor_id, reason=v.reason)


EFFECTS: dict[Effect, Callable[[Visit], None]] = {
    Effect.TRIED: _tried, Effect.CONTACT: _contact, Effect.REACHED: _reached,
    Effect.PHONE_VERIFIED: _phone_verified, Effect.SURVEY: _survey,
    Effect.ACTIVATE: _activate, Effect.FAILED_CONTACT: _failed_contact,
    Effect.PHONE_UNVERIFIED: _phone_unverified, Effect.FAMILY_VERIFIED: _family_verified,
    Effect.FAMILY_UNVERIFIED: _family_unverified, Effect.MOVED: _moved,
    Effect.DO_NOT_CONTACT: _do_not_contact, Effect.DECEASED: _deceased,
    Effect.NOTICE_ANSWER: _notice_answer, Effect.MADE_UP: _made_up,
    Effect.CARE_VISITED: _care_visited,
}
assert set(EFFECTS) == set(Effect), "every effect of the outcome table needs its function"


#: An attempt by another person on the same task this recently makes a new one a Conflict.
RECENT_OTHER = dt.timedelta(minutes=10)
JUST_RECORDED = N_("someone else has just recorded on task {id}; look at it again")


def _nobody_else_just_recorded(session: Session, task: OutreachTask, actor: Actor,
                               seen_attempts: int | None) -> None:
    """`record_outcome`'s rule for two hands on one task (see its docstring); the task is
    locked."""
    if seen_attempts is not None and seen_attempts != task.attempts:
        raise Conflict(_(JUST_RECORDED).format(id=task.id))
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - RECENT_OTHER
    other = session.scalar(select(Attempt.id).where(
        Attempt.task_id == task.id, Attempt.recorded_at >= since,
        Attempt.recorded_by.is_not(None),
        Attempt.recorded_by.is_distinct_from(actor.id)).limit(1))
    if other is not None:
        raise Conflict(_(JUST_RECORDED).format(id=task.id))


@requires(HOLDER)
def record_outcome(session: Session, *, task_id: int, outcome: str, actor: Actor,
                   note: str | None = None, answers: dict[str, str] | None = None,
                   today: dt.date | None = None, source_key: str | None = None,
                   expected_version: int | None = None,
                   seen_attempts: int | None = None) -> Recorded:
    """Record one attempt at a task and apply its effects (`tasks.work.rules.OUTCOMES`).

    ``today``: the day of the visit (default: today) — not in the future, not before the
    task was made (`tasks.work.rules.check_recorded_day`).

    Two hands on one task at once (a volunteer and a coordinator both sending
    ``no_answer``): the member's and the task's row locks make them queue, but each would
    still count an attempt — two attempts for one call, and a member made unreachable too
    early. So whoever comes second is told instead (`Conflict`: someone else has just
    recorded on this task; look at it again), by two rules, checked under the locks:

    - ``seen_attempts``: the task's attempt count the client last saw (the ledger
      service's clients send it when they know it). Any other count means an attempt
      came in between, whoever made it.
    - Independently, an attempt by *another person* on this task within the last
      `RECENT_OTHER` (10 minutes) is refused: that is the same visit recorded twice,
      because no two people call one member within minutes on purpose. The same person
      recording again is not refused (a second call an hour later, or at once after a
      wrong number) — their retries are caught by the Idempotency-Key
      (`tasks.access.idempotency`), not here.
    """
    today = today or rules.real_today()
    answers = dict(answers or {})
    if note is not None:
        rules.check_text(note, N_("the note"))
    if note is not None and len(note) > 2000:
        raise BadInput(_("the note is too long (2000 characters at most) or has control "
                         "characters"))
    if source_key is not None:
        done = session.scalars(select(Attempt).where(Attempt.source_key == source_key)).first()
        if done is not None:
            task = load_task(session, done.task_id)
            member = session.get(Member, task.member_id)
            return Recorded(task.id, str(done.outcome), str(task.status), member.id,
                            str(member.status), task.attempts, task.next_attempt_on,
                            task.pending_confirmation, duplicate=True)
    task = load_task(session, task_id, lock=True)
    require_holder(task, actor)
    _nobody_else_just_recorded(session, task, actor, seen_attempts)
    if expected_version is not None and task.version != expected_version:
        raise Refused(_("task {id} changed since you looked at it; look again").format(
            id=task.id))
    kind = str(task.kind)
    code = check_outcome(kind, outcome)
    answers = check_answers(kind, code, answers)
    if task.status != TaskStatus.ASSIGNED:
        raise Refused(_("task {id} is {status}; only an assigned task takes outcomes").format(
            id=task.id, status=label(task.status, of="task_status")))
    work_rules.check_recorded_day(today, not_before=work_rules.local_day(task.created_at),
                             what=N_("the visit's date"))
    member = session.get(Member, task.member_id)
    retry_days = session.scalar(select(Campaign.retry_days).join(
        CampaignRun, CampaignRun.campaign_id == Campaign.id).where(CampaignRun.id == task.run_id))
    reason = f"task {task.id}: {code}"
    session.add(Attempt(task_id=task.id, volunteer_id=task.volunteer_id, recorded_by=actor.id,
                        outcome=code, note=note, source_key=source_key, recorded_on=today,
                        answers=json.dumps(answers, ensure_ascii=False) if answers else None))
    rule = work_rules.OUTCOMES[code]
    if rule.closes:
        task.outcome = code
        task.next_attempt_on = None
        move_task(session, task, TaskStatus.DONE, actor_id=actor.id, reason=reason)
    else:
        task.attempts += 1
        task.next_attempt_on = today + dt.timedelta(days=retry_days)
        if work_rules.attempts_exhausted(task.attempts, task.max_attempts):
            task.outcome = code
            task.next_attempt_on = None
            move_task(session, task, TaskStatus.FAILED, actor_id=actor.id,
                      reason=f"{reason} (attempts exhausted)")
        else:
            flush(session, _("task {id}").format(id=task.id))
    visit = Visit(session, task, member, answers, today, actor.id, reason)
    for effect in rule.effects(kind):
        EFFECTS[effect](visit)

    escalation_id = None
    if work_rules.becomes_unreachable(member.failed_contacts, member.status):
        move_member(session, member, MemberStatus.UNREACHABLE, actor_id=actor.id,
                    reason=f"{member.failed_contacts} failed contacts in a row")
        escalation_id = escalate(session, member=member, today=today, actor_id=actor.id)
    flush(session, _("task {id}").format(id=task.id))
    crashpoints.reach("outcome.recorded")
    return Recorded(task.id, str(code), str(task.status), member.id, str(member.status),
                    task.attempts, task.next_attempt_on, task.pending_confirmation,
                    escalation_id)


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
    coord = people.coordinator_for(session, member.branch_id)
    camp = session.get(Campaign, run.campaign_id)
    task = OutreachTask(run_id=run.id, member_id=member.id, kind=K.ESCALATION,
                        status=TaskStatus.ASSIGNED if coord else TaskStatus.OPEN,
                        volunteer_id=coord, status_by=actor_id,
                        status_reason="escalation: call the family contact",
                        max_attempts=camp.max_attempts,
                        due_on=today + dt.timedelta(days=camp.due_days),
                        closes_on=today + dt.timedelta(days=camp.due_days * 4))
    session.add(task)
    flush(session, _("escalation for member {id}").format(id=member.id))
    return task.id


@requires(HOLDER)
def release(session: Session, *, task_id: int, actor: Actor) -> OutreachTask:
    """Hand a task back: it becomes open for someone else.

    Its holder is remembered (``released_by``): `assign_open` never gives it back to
    them; a coordinator's `reassign` may (and forgets who released it).
    """
    task = load_task(session, task_id, lock=True)
    require_holder(task, actor)
    task.released_by = task.volunteer_id
    move_task(session, task, TaskStatus.OPEN, actor_id=actor.id,
              reason=f"released by {actor.id}", volunteer_id=None)
    return task


@requires(COORDINATOR)
def reassign(session: Session, *, task_id: int, volunteer_id: int, actor: Actor,
             force: bool = False) -> OutreachTask:
    """Give a task to another volunteer (coordinators).

    Refused when the volunteer is full (open tasks at their capacity) or not of the
    member's branch or a branch above it — unless ``force``, which the history records.
    """
    from outreach.tasks.ledger.tree import ancestors

    task = load_task(session, task_id, lock=True)
    vol = session.get(Volunteer, volunteer_id) if 0 < volunteer_id <= MAX_ID else None
    if vol is None:
        raise NotFound(_("no volunteer with id {id}").format(id=volunteer_id))
    if not vol.active:
        raise Refused(_("volunteer {id} is not active").format(id=vol.id))
    if task.volunteer_id == vol.id:
        raise Refused(_("task {task} is already with volunteer {id}").format(task=task.id,
                                                                           id=vol.id))
    member = session.get(Member, task.member_id)
    why, said = [], []  # for the history (English, data) and for the person
    held = session.scalar(select(func.count()).select_from(OutreachTask).where(
        OutreachTask.volunteer_id == vol.id, OutreachTask.status.in_(list(OPEN_TASK))))
    if held >= vol.capacity:
        why.append(f"volunteer {vol.id} is full ({held} open tasks, capacity {vol.capacity})")
        said.append(_("volunteer {id} is full ({held} open tasks, capacity {capacity})")
                    .format(id=vol.id, held=held, capacity=vol.capacity))
    if vol.branch_id not in ancestors(session, member.branch_id):
        why.append(f"volunteer {vol.id} is not of member {member.id}'s branch or a branch "
                   "above it")
        said.append(_("volunteer {id} is not of member {member}'s branch or a branch above "
                      "it").format(id=vol.id, member=member.id))
    if why and not force:
        raise Refused(_("{why} (a coordinator may give it anyway with --force)").format(
            why="; ".join(said)))
    reason = f"reassigned from {task.volunteer_id or 'nobody'} to {vol.id}"
    if why:
        reason += " (forced: " + "; ".join(why) + ")"
    task.released_by = None  # a coordinator may give it to whoever handed it back
    move_task(session, task, TaskStatus.ASSIGNED, actor_id=actor.id, reason=reason,
              volunteer_id=vol.id)
    return task


@requires(COORDINATOR)
def skip(session: Session, *, task_id: int, reason: str, actor: Actor) -> OutreachTask:
    """Cancel a task with a reason (coordinators)."""
    if not reason.strip():
        raise BadInput(_("a skip needs a reason"))
    rules.check_text(reason, N_("the reason"))
    task = load_task(session, task_id, lock=True)
    move_task(session, task, TaskStatus.CANCELLED, actor_id=actor.id,
              reason=f"skipped: {reason.strip()[:300]}")
    return task


@requires(COORDINATOR)
def confirm(session: Session, *, member_ref: str, what: str, actor: Actor) -> Member:
    """A coordinator confirms a recorded deceased (or moved-out) outcome.

    The confirmer must be someone other than whoever made or recorded the attempt, who
    was already a coordinator when it was recorded (`Volunteer.coordinator_since`): a
    coordinator added — or given a new code — afterwards does not count as a second person.
    """
    from outreach.tasks.ledger.people import find_member

    if what not in ("deceased", "moved"):
        raise BadInput(_("confirm takes deceased or moved, not {value}").format(
            value=repr(what[:20])))
    member = find_member(session, ref=member_ref)
    code = O.DECEASED if what == "deceased" else O.MOVED
    row = session.execute(
        select(Attempt, OutreachTask).join(OutreachTask, OutreachTask.id == Attempt.task_id)
        .where(OutreachTask.member_id == member.id, OutreachTask.pending_confirmation.is_(True),
               Attempt.outcome == code, Attempt.confirmed_by.is_(None))
        .order_by(Attempt.id.desc())).first()
    if row is None:
        raise Refused(_("member {id} has no {what} outcome waiting for confirmation").format(
            id=member.id, what=what))
    attempt, task = row
    if actor.id in (attempt.volunteer_id, attempt.recorded_by):
        raise Refused(_("you recorded this {what} outcome; another coordinator must confirm "
                        "it").format(what=what))
    since = session.get(Volunteer, actor.id).coordinator_since
    if since is None or since > attempt.recorded_at:
        raise Refused(_("you became a coordinator after this {what} outcome was recorded; a "
                        "coordinator who was one before must confirm it").format(what=what))
    target = MemberStatus.DECEASED if what == "deceased" else MemberStatus.MOVED_OUT
    reason = f"confirmed {what} (task {task.id})"
    move_member(session, member, target, actor_id=actor.id, reason=reason, coordinator=True)
    if target == MemberStatus.MOVED_OUT:
        from outreach.db.codes import MovementKind, MovementSource
        from outreach.tasks.ledger.movements import record_movement

        record_movement(session, member, None, kind=MovementKind.MOVED_OUT,
                        source=MovementSource.CLI, recorded_by=actor.id,
                        happened_on=attempt.recorded_on or rules.real_today())
    attempt.confirmed_by = actor.id
    attempt.confirmed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    task.pending_confirmation = False
    _cancel_other_tasks(session, member.id, None, actor.id, reason)
    flush(session, _("member {id}").format(id=member.id))
    return member
