"""The ledger's codes as plain enums: kinds, roles, residence, outcome codes, meetings.

Pure Python (no SQLAlchemy), so that what needs only the codes — the rules in
`tasks.*.rules`, the CLI talking to the ledger service — can import them without the ORM.
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
    #: Organisational life: tell a member of a coming meeting (a call; offer the remote
    #: option, take an excuse).
    NOTICE = "notice"
    #: Organisational life: bring or talk through a missed meeting's material.
    MAKE_UP = "make_up"
    #: Care: visit a member for a care occasion (a milestone birthday, a festival, a life
    #: event, hardship).
    CARE_VISIT = "care_visit"
    #: For a coordinator: consider transferring the membership of a member living away for
    #: more than six months to a branch where they live.
    TRANSFER = "transfer"


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
    #: A visit took place (make-up study at the member's home, a care visit).
    VISITED = "visited"
    #: Care: a gift (or the organisation's greetings) was brought to the member.
    GIFT_DELIVERED = "gift_delivered"
    #: Care: help was arranged for the member (a carer, a hospital visit, an allowance).
    HELP_ARRANGED = "help_arranged"


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
    #: The member studied the material alone and said so through their own link, where the
    #: branch accepts self-study (``Branch.self_study``; revision 0013).
    SELF_STUDY = "self_study"


class MemberAnswer(enum.StrEnum):
    """A member's own answer to a meeting notice (through their link): an intention, not
    a mark: the attendance stays ``invited`` until the coordinator marks the meeting."""

    REMOTE = "remote"  # "I will join by phone"
    EXCUSED = "excused"  # "I ask to be excused" (with a reason)


class CareOccasionKind(enum.StrEnum):
    """Why a member is due a care visit."""

    BIRTHDAY = "birthday"  # a milestone birthday (80, 85, 90, 95, every year from 100)
    DOUBLE_NINTH = "double_ninth"  # the elders' day, 9th day of the 9th lunar month
    SPRING_FESTIVAL = "spring_festival"  # the lunar new year
    LIFE_EVENT = "life_event"  # a recorded life event (`LifeEventKind`)
    HARDSHIP = "hardship"  # the monthly visit of a member marked in hardship


class LifeEventKind(enum.StrEnum):
    """What happened in a member's life that calls for a care visit."""

    HOSPITALISED = "hospitalised"
    BEREAVED = "bereaved"
    HARDSHIP = "hardship"
    OTHER = "other"


class ContributionKind(enum.StrEnum):
    """What a member did for others (room to play a role)."""

    TEACHING = "teaching"
    VOLUNTEERING = "volunteering"
    MEDIATION = "mediation"
    MENTORING = "mentoring"
    OTHER = "other"


class MovementKind(enum.StrEnum):
    """A member's inflow or outflow (movements recorded)."""

    AWAY = "away"  # local → living away
    BACK = "back"  # living away → local
    MOVED_OUT = "moved_out"  # left the branch's area / the organisation's books
    BACK_IN = "back_in"  # moved out → back in
    CITY = "city"  # still away, in another city


class MovementSource(enum.StrEnum):
    """Where a movement row came from."""

    OUTCOME = "outcome"  # a task's outcome (moved, temporarily_away …)
    SURVEY = "survey"  # a survey answer
    IMPORT = "import"  # a ledger import
    CLI = "cli"  # typed by a coordinator
    SYSTEM = "system"  # written by outreach itself (a migration, a backfill)
    MEMBER_LINK = "member_link"  # reported by the member through their own link


#: A campaign's settings when nobody chose them: the one home of these numbers, read by the
#: models' column defaults (`db.models.Campaign`) and by the rules' limits
#: (`tasks.campaigns.rules`, `tasks.work.rules`). Survey: members not confirmed within
#: ``window_days`` are targeted; phone visit: members not reached within ``cadence_days``.
CAMPAIGN_DEFAULTS = {"window_days": 365, "cadence_days": 30, "max_attempts": 3,
                     "due_days": 14, "retry_days": 2}
