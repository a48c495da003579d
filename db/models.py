"""SQLAlchemy 2 typed models of the ledger.

No ``relationship()``: every query here is explicit about its joins, and mapper
configuration is part of every volunteer command's start-up time. For the same reason no
``from __future__ import annotations``: with string annotations SQLAlchemy must ``eval``
each of them at import (about 30 ms of a volunteer command's start).

Status columns are guarded three times over: a CHECK constraint on the value (the enum),
triggers that refuse a pair missing from the ``*_transition`` table (`db.guards`), and
history rows whose (from, to) pair is a foreign key into that same table. The triggers also
write the history rows, so no UPDATE, from the ORM or from raw SQL, can change a status
without leaving its row of history. Whoever changes a status sets ``status_by`` and
``status_reason`` in the same UPDATE; the trigger copies them into the history row.
"""


import datetime as dt
import enum
from typing import Optional

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from outreach.db.codes import (
    CAMPAIGN_DEFAULTS,
    BranchKind,
    CampaignKind,
    CareOccasionKind,
    ContributionKind,
    LifeEventKind,
    MakeUpHow,
    MeetingKind,
    MemberAnswer,
    MemberRole,
    MovementKind,
    MovementSource,
    Outcome,
    RemoteOption,
    Residence,
    Role,
)
from outreach.db.machines import AttendanceStatus, CareStatus, MeetingStatus, MemberStatus, TaskStatus

__all__ = ["BranchKind", "CampaignKind", "CareOccasionKind", "ContributionKind", "LifeEventKind",
           "MakeUpHow", "MeetingKind", "MemberAnswer", "MemberRole", "MovementKind", "MovementSource",
           "Outcome", "RemoteOption", "Residence", "Role"]  # re-exported

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a named CHECK constraint, storing the values."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[BranchKind] = mapped_column(_enum(BranchKind, "branch_kind"),
                                             default=BranchKind.GEOGRAPHIC)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("branches.id"), index=True)
    #: The branch accepts make-up study done alone: a member's "I have studied it" through
    #: their link makes the attendance ``made_up`` (``self_study``); off: the make-up
    #: task's volunteer sees the member's note (revision 0013).
    self_study: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())



class Volunteer(Base):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.VOLUNTEER)
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Salted hash of the personal access code; the code itself is never stored.
    code_salt: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(128))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    #: When this person last became a coordinator (None: not one). The two-person rule
    #: for a death asks for a confirmer who was a coordinator before it was recorded.
    coordinator_since: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity_non_negative"),)


#: What the scorecard reads of every member (`tasks.scorecard.scorecard`), id first: on PostgreSQL a
#: half of the members is a range of ``ix_members_scorecard``.
SCORECARD_COLUMNS = ("id", "branch_id", "status", "residence", "homebound",
                     "address_verified_on", "contact_quarter", "contact_quarter_before",
                     "delivery_quarter", "delivery_quarter_before")


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_no: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[Optional[dt.date]] = mapped_column(Date)
    phone: Mapped[Optional[str]] = mapped_column(String(40))
    home_address: Mapped[Optional[str]] = mapped_column(Text)
    current_address: Mapped[Optional[str]] = mapped_column(Text)
    residence: Mapped[Residence] = mapped_column(_enum(Residence, "residence"),
                                                 default=Residence.LOCAL)
    homebound: Mapped[bool] = mapped_column(Boolean, default=False)
    family_contact_name: Mapped[Optional[str]] = mapped_column(String(200))
    family_contact_phone: Mapped[Optional[str]] = mapped_column(String(40))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    #: Comma-separated interests ("calligraphy,choir"); needs as free text.
    interests: Mapped[Optional[str]] = mapped_column(Text)
    needs: Mapped[Optional[str]] = mapped_column(Text)
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus, "member_status"),
                                                 default=MemberStatus.UNVERIFIED)
    status_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    # When each contact field was last confirmed (None: never, or marked unverified).
    phone_verified_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    address_verified_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    family_contact_verified_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    #: Last survey that reached the member (the whole record confirmed).
    confirmed_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    last_contact_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    last_reached_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    last_reached_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    #: Failed contact attempts in a row; reset when the member is reached.
    failed_contacts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    #: Since when the member lives away (None: local, or not known). Kept with every
    #: movement (`Movement`); the transfer planner reads it instead of replaying them.
    away_since: Mapped[Optional[dt.date]] = mapped_column(Date)
    #: When a transfer task was made for the current stay away (None: not yet). A
    #: member gets it once per stay: the service clears it when the member comes back.
    transfer_considered_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    #: The contact summary, kept by the database (`db.guards.summary_statements`, revision
    #: 0009) from the attempts and never written by the code: the two newest quarters
    #: (year × 4 + quarter − 1) with a successful contact on one of the member's own tasks,
    #: and with a completed delivery. The scorecard reads them instead of every member's
    #: tasks and attempts.
    contact_quarter: Mapped[Optional[int]] = mapped_column(Integer)
    contact_quarter_before: Mapped[Optional[int]] = mapped_column(Integer)
    delivery_quarter: Mapped[Optional[int]] = mapped_column(Integer)
    delivery_quarter_before: Mapped[Optional[int]] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # Coverage groups by branch and segment and counts by status and last reach: read
        # straight from this index, in order, without touching the rows.
        # The scorecard reads the address's date from it too (migration 0008).
        Index("ix_members_coverage", "branch_id", "residence", "homebound", "status",
              "last_reached_on", "address_verified_on"),
        # PostgreSQL: the scorecard reads a range of members by id with what it needs of
        # each from this index alone, not the rows, hundreds of bytes each (migration
        # 0011). SQLite reads such a range of the table by rowid already: no faster here.
        Index("ix_members_scorecard", *SCORECARD_COLUMNS).ddl_if(dialect="postgresql"),
        CheckConstraint("failed_contacts >= 0", name="failed_contacts_non_negative"),
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind, "campaign_kind"))
    #: Survey: members not confirmed within this many days are targeted.
    window_days: Mapped[int] = mapped_column(Integer, default=CAMPAIGN_DEFAULTS["window_days"])
    #: Phone visit: members not reached within this many days are targeted.
    cadence_days: Mapped[int] = mapped_column(Integer,
                                              default=CAMPAIGN_DEFAULTS["cadence_days"])
    max_attempts: Mapped[int] = mapped_column(Integer,
                                              default=CAMPAIGN_DEFAULTS["max_attempts"])
    due_days: Mapped[int] = mapped_column(Integer, default=CAMPAIGN_DEFAULTS["due_days"])
    retry_days: Mapped[int] = mapped_column(Integer, default=CAMPAIGN_DEFAULTS["retry_days"])


class CampaignRun(Base):
    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    period: Mapped[str] = mapped_column(String(20))
    material: Mapped[Optional[str]] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    #: The meeting a run of notices or make-up studies is for (organisational life).
    meeting_id: Mapped[Optional[int]] = mapped_column(ForeignKey("meetings.id"), index=True)

    __table_args__ = (UniqueConstraint("campaign_id", "period"),)


class OutreachTask(Base):
    """One unit of outreach for one member in one campaign run (not a Prefect task)."""

    __tablename__ = "outreach_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind, "task_kind"))
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"),
                                               default=TaskStatus.OPEN)
    volunteer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_attempt_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    #: Past this date an unfinished task expires.
    closes_on: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[Optional[Outcome]] = mapped_column(_enum(Outcome, "task_outcome"))
    #: Deceased/moved outcomes wait for a coordinator's confirmation.
    pending_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The volunteer who last handed this task back (`task release`): the engine does
    #: not give it to them again in this run; a coordinator's reassignment clears it.
    released_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("run_id", "member_id"),
        # A member's tasks by run (targeting's "already has one", "never reached in the
        # last three runs") without visiting the rows.
        # … and by kind (the scorecard's contacts; migration 0008).
        Index("ix_outreach_tasks_member_run", "member_id", "run_id", "status", "outcome",
              "kind"),
        Index("ix_outreach_tasks_volunteer_status", "volunteer_id", "status"),
        Index("ix_outreach_tasks_status_due", "status", "due_on"),
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts_in_range"),
        CheckConstraint("status <> 'assigned' OR volunteer_id IS NOT NULL",
                        name="assigned_has_volunteer"),
        CheckConstraint("status <> 'open' OR volunteer_id IS NULL", name="open_has_no_volunteer"),
    )


class Attempt(Base):
    """One recorded attempt at a task and its coded outcome."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("outreach_tasks.id"))
    #: Who made the attempt (the task's volunteer) …
    volunteer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    #: … and who typed it in (the same person, or a coordinator importing a run sheet).
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "attempt_outcome"))
    note: Mapped[Optional[str]] = mapped_column(Text)
    #: Survey answers as JSON text.
    answers: Mapped[Optional[str]] = mapped_column(Text)
    #: Makes a replayed results file idempotent: one key, one attempt.
    source_key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    confirmed_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    confirmed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    # A task's attempts, with their day and outcome: the scorecard's contacts in a quarter
    # without reading the attempts (migration 0008).
    __table_args__ = (Index("ix_attempts_task_id", "task_id", "recorded_on", "outcome"),)


class MemberTransition(Base):
    """The allowed (from, to) pairs of the member machine; history references them."""

    __tablename__ = "member_transition"

    from_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    coordinator_only: Mapped[bool] = mapped_column(Boolean, default=False)


class TaskTransition(Base):
    __tablename__ = "task_transition"

    from_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_status: Mapped[str] = mapped_column(String(24), primary_key=True)


class MemberStatusChange(Base):
    """Append-only history of member lifecycle; written by the database's triggers."""

    __tablename__ = "member_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        ForeignKeyConstraint(["from_status", "to_status"],
                             ["member_transition.from_status", "member_transition.to_status"],
                             name="fk_member_status_changes_pair"),
        # The changes after a day (a member's status then: the scorecard; migration 0008).
        Index("ix_member_status_changes_at", "at", "member_id"),
    )


class TaskStatusChange(Base):
    """Append-only history of task status and assignment; written by the triggers."""

    __tablename__ = "task_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("outreach_tasks.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    #: The volunteer holding the task after this change.
    volunteer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        ForeignKeyConstraint(["from_status", "to_status"],
                             ["task_transition.from_status", "task_transition.to_status"],
                             name="fk_task_status_changes_pair"),
    )


class MemberChange(Base):
    """Append-only history of a member's data: residence, address, phone, branch …"""

    __tablename__ = "member_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[Optional[str]] = mapped_column(Text)
    new_value: Mapped[Optional[str]] = mapped_column(Text)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __table_args__ = (Index("ix_member_changes_field_at", "field", "at"),)


class LoginFailure(Base):
    """Wrong access codes counted per client address by the ledger service (`outreach
    serve`): each wrong code from an address waits longer, whoever it claims to be."""

    __tablename__ = "login_failures"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class RunTicket(Base):
    """A single-use, short-lived ticket for one flow run on a coordinator's behalf (`outreach
    outcomes ticket`, see `tasks.access.tickets`). It carries its own authority — who, for which
    purpose, until when — and only the hash of its secret: nothing here yields an access
    code. ``code_stamp`` is a hash of the coordinator's code *hash* when the ticket was
    made, so that a code changed since stops the ticket (revision 0012)."""

    __tablename__ = "run_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    code_stamp: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class IdempotencyKey(Base):
    """The first answer to a write sent with an ``Idempotency-Key``: the same key from the
    same person gets that answer again and changes nothing (a phone resending its queue, a
    command run twice). A key is one person's; ``request_hash`` tells a key reused for
    another request (revision 0012)."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __table_args__ = (UniqueConstraint("volunteer_id", "key"),
                      Index("ix_idempotency_keys_created_at", "created_at"))


class AccessEvent(Base):
    """One showing of members' contact details (phone, address, family contact) to a
    person: who, when, through which door, and for a file its name and how many members
    it held — never the details themselves. Append-only like history (revision 0012); the
    members shown are `AccessEventMember` rows."""

    __tablename__ = "access_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    #: Who was shown (NULL: no person — a flow or the system).
    volunteer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    #: Through which door: ``cli``, ``service``, ``app``, ``runsheet``, ``export`` …
    door: Mapped[str] = mapped_column(String(40))
    #: A file written (its name only), or NULL for a screen.
    file_name: Mapped[Optional[str]] = mapped_column(String(255))
    members_count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_access_events_volunteer_at", "volunteer_id", "at"),
                      Index("ix_access_events_at", "at"))


class AccessEventMember(Base):
    """A member whose contact details one `AccessEvent` showed. Append-only."""

    __tablename__ = "access_event_members"

    event_id: Mapped[int] = mapped_column(ForeignKey("access_events.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)

    __table_args__ = (Index("ix_access_event_members_member", "member_id", "event_id"),)


# --- organisational life: meetings, attendance, roles in a branch ---------------------------


class Meeting(Base):
    """A meeting of a branch (assembly, committee, group, lecture, theme day).

    Its status is guarded like a task's (`db.machines.MEETING_TRANSITIONS`); moving a
    planned meeting to another date is the ``planned → planned`` row of its history, which
    carries the new ``planned_on``."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    kind: Mapped[MeetingKind] = mapped_column(_enum(MeetingKind, "meeting_kind"))
    status: Mapped[MeetingStatus] = mapped_column(_enum(MeetingStatus, "meeting_status"),
                                                  default=MeetingStatus.PLANNED)
    planned_on: Mapped[dt.date] = mapped_column(Date)
    held_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    topic: Mapped[Optional[str]] = mapped_column(String(200))
    #: The study material (what a make-up study brings or talks through).
    material: Mapped[Optional[str]] = mapped_column(String(200))
    place: Mapped[Optional[str]] = mapped_column(String(200))
    #: How members far away take part; details: a conference number or link (not a
    #: member's contact).
    remote: Mapped[RemoteOption] = mapped_column(_enum(RemoteOption, "remote_option"),
                                                 default=RemoteOption.NONE)
    remote_details: Mapped[Optional[str]] = mapped_column(String(200))
    chair: Mapped[Optional[str]] = mapped_column(String(200))
    recorder: Mapped[Optional[str]] = mapped_column(String(200))
    minutes: Mapped[Optional[str]] = mapped_column(Text)
    decisions: Mapped[Optional[str]] = mapped_column(Text)
    status_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # Cadence (what a branch held of each kind, when) and the meetings report.
        Index("ix_meetings_branch_kind", "branch_id", "kind", "status", "planned_on"),
        Index("ix_meetings_status_planned", "status", "planned_on"),
        CheckConstraint("status NOT IN ('held', 'closed') OR held_on IS NOT NULL",
                        name="held_has_date"),
        CheckConstraint("status IN ('held', 'closed') OR held_on IS NULL",
                        name="only_held_has_date"),
    )


class Attendance(Base):
    """One member's attendance at one meeting (`db.machines.ATTENDANCE_TRANSITIONS`)."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[AttendanceStatus] = mapped_column(
        _enum(AttendanceStatus, "attendance_status"), default=AttendanceStatus.INVITED)
    #: Why the member was excused (or anything said about the mark).
    reason: Mapped[Optional[str]] = mapped_column(Text)
    made_up_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    made_up_how: Mapped[Optional[MakeUpHow]] = mapped_column(_enum(MakeUpHow, "make_up_how"))
    status_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    #: The member's own answer to the notice, through their link (revision 0013): an
    #: intention ("I will join by phone", "I ask to be excused" + ``member_reason``), not a
    #: mark — ``status`` stays ``invited`` until the coordinator marks the meeting.
    member_answer: Mapped[Optional[MemberAnswer]] = mapped_column(
        _enum(MemberAnswer, "member_answer"))
    member_reason: Mapped[Optional[str]] = mapped_column(Text)
    answered_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)
    #: When the member said, through their link, that they studied the make-up material
    #: (where the branch does not accept self-study the make-up task's volunteer sees it).
    studied_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("meeting_id", "member_id"),
        # A member's organisational life (last present/remote/made_up) and per-meeting counts.
        Index("ix_attendance_member_status", "member_id", "status"),
        Index("ix_attendance_meeting_status", "meeting_id", "status", "member_id"),
        CheckConstraint("status <> 'made_up' OR (made_up_on IS NOT NULL "
                        "AND made_up_how IS NOT NULL)", name="made_up_has_when_and_how"),
        CheckConstraint("status = 'made_up' OR (made_up_on IS NULL AND made_up_how IS NULL)",
                        name="only_made_up_has_when"),
    )


class MeetingTransition(Base):
    __tablename__ = "meeting_transition"

    from_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_status: Mapped[str] = mapped_column(String(24), primary_key=True)


class AttendanceTransition(Base):
    __tablename__ = "attendance_transition"

    from_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_status: Mapped[str] = mapped_column(String(24), primary_key=True)


class MeetingStatusChange(Base):
    """Append-only history of a meeting's status and planned date; written by triggers."""

    __tablename__ = "meeting_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    #: The planned date after this change (a move to another date: planned → planned).
    planned_on: Mapped[dt.date] = mapped_column(Date)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        ForeignKeyConstraint(["from_status", "to_status"],
                             ["meeting_transition.from_status", "meeting_transition.to_status"],
                             name="fk_meeting_status_changes_pair"),
    )


class AttendanceStatusChange(Base):
    """Append-only history of attendance marks; written by the triggers."""

    __tablename__ = "attendance_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendance.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        ForeignKeyConstraint(["from_status", "to_status"],
                             ["attendance_transition.from_status",
                              "attendance_transition.to_status"],
                             name="fk_attendance_status_changes_pair"),
    )


class BranchRole(Base):
    """A member's role in a branch (secretary, deputy, committee); no row: no role. Each
    change is also a ``member_changes`` row (field ``branch_role``), see `db.state`."""

    __tablename__ = "branch_roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"))
    since: Mapped[dt.date] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("branch_id", "member_id"),)


# --- care, contributions, movements (issue 13) ---------------------------------------------


class CareOccasion(Base):
    """One member's care occasion (a milestone birthday, a festival, a life event, a month
    in hardship): a care visit is due within ``window_from`` … ``window_to``. Its status is
    guarded like a meeting's (`db.machines.CARE_TRANSITIONS`). One row per member, kind and
    day, so that planning it again changes nothing."""

    __tablename__ = "care_occasions"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[CareOccasionKind] = mapped_column(_enum(CareOccasionKind, "care_kind"))
    occasion_on: Mapped[dt.date] = mapped_column(Date)
    window_from: Mapped[dt.date] = mapped_column(Date)
    window_to: Mapped[dt.date] = mapped_column(Date)
    #: What the occasion is, in a coordinator's words ("90th birthday", "life event 12");
    #: never a contact detail.
    detail: Mapped[Optional[str]] = mapped_column(String(200))
    #: The care visit task made for it (None: not yet).
    task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outreach_tasks.id"), index=True)
    status: Mapped[CareStatus] = mapped_column(_enum(CareStatus, "care_status"),
                                               default=CareStatus.DUE)
    status_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    status_reason: Mapped[Optional[str]] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("member_id", "kind", "occasion_on"),
        # The scorecard: occasions of a quarter by status.
        Index("ix_care_occasions_status_on", "status", "occasion_on"),
        CheckConstraint("window_from <= occasion_on AND occasion_on <= window_to",
                        name="window_holds_the_day"),
    )


class CareTransition(Base):
    __tablename__ = "care_transition"

    from_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    to_status: Mapped[str] = mapped_column(String(24), primary_key=True)


class CareOccasionStatusChange(Base):
    """Append-only history of care occasions; written by the triggers."""

    __tablename__ = "care_occasion_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    care_occasion_id: Mapped[int] = mapped_column(ForeignKey("care_occasions.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        ForeignKeyConstraint(["from_status", "to_status"],
                             ["care_transition.from_status", "care_transition.to_status"],
                             name="fk_care_occasion_status_changes_pair"),
    )


class LifeEvent(Base):
    """Something that happened in a member's life (in hospital, bereaved, in hardship),
    recorded by a volunteer or coordinator; it gives a care occasion."""

    __tablename__ = "life_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[LifeEventKind] = mapped_column(_enum(LifeEventKind, "life_event_kind"))
    happened_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[Optional[str]] = mapped_column(Text)
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class Hardship(Base):
    """A member marked in hardship (level 1–3) gets a monthly care visit until a
    coordinator clears it (``cleared_on``). One row per member: marking again replaces
    level and dates; every change is also a ``member_changes`` row (the service's job)."""

    __tablename__ = "hardships"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    since: Mapped[dt.date] = mapped_column(Date)
    marked_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    cleared_on: Mapped[Optional[dt.date]] = mapped_column(Date)
    cleared_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level_1_to_3"),
        CheckConstraint("cleared_on IS NULL OR cleared_on >= since",
                        name="cleared_after_since"),
    )


class Contribution(Base):
    """What a member did for others (teaching, volunteering, mediation, mentoring)."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[ContributionKind] = mapped_column(_enum(ContributionKind, "contribution_kind"))
    happened_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[Optional[str]] = mapped_column(Text)
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __table_args__ = (Index("ix_contributions_member_on", "member_id", "happened_on"),)


class Movement(Base):
    """One inflow or outflow of a member (local ↔ away, another city, moved out, back in).

    Append-only (database triggers refuse UPDATE and DELETE, like history). ``from_place``
    and ``to_place`` are a CITY OR REGION only, never a street address: they are shown in
    reports; the service that writes a movement must store the city/region, not the
    member's address."""

    __tablename__ = "movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[MovementKind] = mapped_column(_enum(MovementKind, "movement_kind"))
    #: The day it happened (as told); ``at``: when it was recorded.
    happened_on: Mapped[dt.date] = mapped_column(Date)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    from_place: Mapped[Optional[str]] = mapped_column(String(200))
    to_place: Mapped[Optional[str]] = mapped_column(String(200))
    source: Mapped[MovementSource] = mapped_column(_enum(MovementSource, "movement_source"))
    recorded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))

    __table_args__ = (Index("ix_movements_member_on", "member_id", "happened_on"),)


class AppSession(Base):
    """A volunteer's session on the phone pages (``/app/``): only the hash of the cookie's
    random token is kept; it ends after 30 days without use or at logout (revision 0013)."""

    __tablename__ = "app_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __table_args__ = (Index("ix_app_sessions_last_seen_at", "last_seen_at"),)


class MemberLink(Base):
    """A member's own link (``/m/{token}``, `tasks.member_links`): one member's only; the
    token (128 bits or more) is never stored, only its SHA-256; it expires and can be
    revoked (revision 0013)."""

    __tablename__ = "member_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("volunteers.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)

    __table_args__ = (Index("ix_member_links_member_id", "member_id"),)


class MemberLinkKey(Base):
    """An ``Idempotency-Key`` a member's link has used for a write (a form sent twice, a
    page reloaded): the same key on the same link is done once. A link's keys go with the
    link's expiry; each write drops the link's keys older than 30 days (revision 0013)."""

    __tablename__ = "member_link_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("member_links.id"))
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __table_args__ = (UniqueConstraint("link_id", "key"),)
