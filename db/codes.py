"""The ledger's codes as plain enums: kinds, roles, residence, outcome codes, meetings.

Pure Python (no SQLAlchemy), so that what needs only the codes — the rules in
`tasks.rules`, the CLI talking to the ledger service — can import them without the ORM.
`db.models` stores them in CHECK-constrained columns.
"""

import enum


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


class MeetingKind(enum.StrEnum):
    ASSEMBLY = "assembly"
    COMMITTEE = "committee"
    GROUP = "group"
    LECTURE = "lecture"
    THEME_DAY = "theme_day"


class RemoteOption(enum.StrEnum):
    """How members far away can take part in a meeting: not at all, by phone, by video."""

    NONE = "none"
    PHONE = "phone"
    VIDEO = "video"


class MemberRole(enum.StrEnum):
    """A member's role in their branch (`outreach member role`); "none" is no row at all."""

    SECRETARY = "secretary"
    DEPUTY = "deputy"
    COMMITTEE = "committee"


class MakeUpHow(enum.StrEnum):
    """How a member who missed a meeting caught up on it (make-up study)."""

    VISIT = "visit"
    PHONE = "phone"
    MATERIALS = "materials"
