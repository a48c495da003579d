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
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.machines import MemberStatus, TaskStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class BranchKind(enum.StrEnum):
    GEOGRAPHIC = "geographic"
    INTEREST = "interest"
    COMMITTEE = "committee"


class Residence(enum.StrEnum):
    LOCAL = "local"
    AWAY = "away"


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    COORDINATOR = "coordinator"


class CampaignKind(enum.StrEnum):
    SURVEY = "survey"
    PHONE_VISIT = "phone_visit"
    DELIVERY = "delivery"
    #: Created by follow-up for a coordinator: call the family contact of an unreachable member.
    ESCALATION = "escalation"


class Outcome(enum.StrEnum):
    REACHED = "reached"
    DELIVERED = "delivered"
    DELIVERED_TO_FAMILY = "delivered_to_family"
    NO_ANSWER = "no_answer"
    NOT_HOME = "not_home"
    LEFT_MESSAGE = "left_message"
    CALLBACK_REQUESTED = "callback_requested"
    WRONG_NUMBER = "wrong_number"
    MOVED = "moved"
    REFUSED = "refused"
    DO_NOT_CONTACT = "do_not_contact"
    DECEASED = "deceased"
    INACCESSIBLE = "inaccessible"
    TEMPORARILY_AWAY = "temporarily_away"


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


    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity_non_negative"),)


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

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # Coverage groups by branch and segment and counts by status and last reach: read
        # straight from this index, in order, without touching the rows.
        Index("ix_members_coverage", "branch_id", "residence", "homebound", "status",
              "last_reached_on"),
        CheckConstraint("failed_contacts >= 0", name="failed_contacts_non_negative"),
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind, "campaign_kind"))
    #: Survey: members not confirmed within this many days are targeted.
    window_days: Mapped[int] = mapped_column(Integer, default=365)
    #: Phone visit: members not reached within this many days are targeted.
    cadence_days: Mapped[int] = mapped_column(Integer, default=30)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    due_days: Mapped[int] = mapped_column(Integer, default=14)
    retry_days: Mapped[int] = mapped_column(Integer, default=2)


class CampaignRun(Base):
    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    period: Mapped[str] = mapped_column(String(20))
    material: Mapped[Optional[str]] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    finished_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime)


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
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("run_id", "member_id"),
        # A member's tasks by run (targeting's "already has one", "never reached in the
        # last three runs") without visiting the rows.
        Index("ix_outreach_tasks_member_run", "member_id", "run_id", "status", "outcome"),
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
    task_id: Mapped[int] = mapped_column(ForeignKey("outreach_tasks.id"), index=True)
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
