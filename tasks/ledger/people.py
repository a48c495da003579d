"""Branches, volunteers and finding members: small keyword-only service functions."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, NotFound, Refused
from outreach.db.machines import MemberStatus
from outreach.db.models import Branch, BranchKind, Member, Role, Volunteer
from outreach.db.state import move_member
from outreach.i18n import N_, _
from outreach.tasks.kernel import rules
from outreach.tasks.kernel.labels import label
from outreach.tasks.access.permissions import (  # noqa: F401  (re-exported: callers find it here too)
    BOOTSTRAP, COORDINATOR, NO_COORDINATOR_YET, Actor, coordinator_exists, format_code,
    new_credentials, requires,
)

def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)



def check_name(value: str, what: str, limit: int) -> str:
    """A name as the ledger import accepts it: no control characters, at most ``limit``.
    ``what`` (marked ``N_``) is translated here."""
    if len(value) > limit:
        raise BadInput(_("{what} is longer than {limit} characters").format(what=_(what),
                                                                           limit=limit))
    return rules.check_text(value, what)


#: Characters that show nothing (or reorder what is shown): zero-width spaces and joiners,
#: bidi controls, the BOM, soft hyphens (Unicode category Cf), private-use, unassigned and
#: surrogate code points, and the blank Hangul fillers.
_INVISIBLE_CATEGORIES = {"Cf", "Cc", "Co", "Cs", "Cn"}
_BLANK = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
_SPACES = re.compile(r"\s+")


def branch_name(value: str) -> str:
    """A branch name as stored: NFC, runs of any white space as one space, no invisible
    characters (refused, not dropped: two names that look the same are one name)."""
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
    bad = next((c for c in value if unicodedata.category(c) in _INVISIBLE_CATEGORIES
                or c in _BLANK), None)
    if bad is not None:
        raise BadInput(_("the branch name contains an invisible character ({code})")
                       .format(code=f"U+{ord(bad):04X}"))
    return check_name(value, N_("the branch name"), 120)


def _look_alike(name: str) -> str:
    """What two branch names that differ only by case or spacing have in common."""
    return "".join(unicodedata.normalize("NFC", name).casefold().split())


def get_branch(session: Session, *, name: str) -> Branch | None:
    """The branch of that name (compared in NFC, spacing evened out), or None."""
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip()
    return session.scalars(select(Branch).where(Branch.name == name)).first()


def get_or_create_branch(session: Session, *, name: str,
                         kind: BranchKind = BranchKind.GEOGRAPHIC,
                         parent: Branch | None = None) -> tuple[Branch, bool]:
    """The branch of that name, created if missing; returns (branch, created).

    A new name that differs from an existing branch only by case or spacing is refused,
    naming the branch that exists.
    """
    name = branch_name(name)
    if not name:
        raise BadInput(_("a branch needs a name"))
    branch = get_branch(session, name=name)
    if branch is not None:
        return branch, False
    key = _look_alike(name)
    for existing in session.scalars(select(Branch.name)):
        if _look_alike(existing) == key:
            raise BadInput(_("a branch named {name} exists already (a new name must differ "
                             "by more than case or spacing): use {name}")
                           .format(name=repr(existing)))
    branch = Branch(name=name, kind=kind, parent_id=parent.id if parent else None)
    session.add(branch)
    session.flush()
    return branch, True


def subtree_ids(session: Session, *, branch_id: int) -> list[int]:
    """A branch and every branch nested below it (the walk: `tasks.ledger.tree.subtree_ids`)."""
    from outreach.tasks.ledger import tree

    return tree.subtree_ids(session, branch_id)


@requires(BOOTSTRAP)
def add_volunteer(session: Session, *, name: str, branch: str, coordinator: bool = False,
                  capacity: int = 20, actor: Actor | None) -> tuple[Volunteer, str, bool]:
    """Add a volunteer or coordinator; returns (volunteer, access code, branch created).

    Needs a coordinator; with no coordinator in the ledger yet (``actor`` None), only the
    first coordinator can be added. The code is returned once, here; only its salted hash
    is stored.
    """
    if actor is None and not coordinator:
        raise Refused(_(NO_COORDINATOR_YET))
    name = check_name(name.strip(), N_("the name"), 200)
    if not name:
        raise BadInput(_("a volunteer needs a name"))
    if capacity < 0 or capacity > 10_000:
        raise BadInput(_("capacity must be between 0 and 10000, not {capacity}")
                       .format(capacity=capacity))
    br, created = get_or_create_branch(session, name=branch)
    secret, salt, digest = new_credentials()
    vol = Volunteer(name=name, branch_id=br.id, capacity=capacity,
                    role=Role.COORDINATOR if coordinator else Role.VOLUNTEER,
                    code_salt=salt, code_hash=digest, active=True,
                    coordinator_since=_utcnow() if coordinator else None)
    session.add(vol)
    session.flush()
    return vol, format_code(vol.id, secret), created


@requires(BOOTSTRAP)
def check_seed(session: Session, *, actor: Actor | None, codes_kept: bool) -> None:
    """May ``actor`` seed made-up people into the ledger (`seed.generate`)? A coordinator
    may; on a ledger without one anybody may — but only keeping the new codes, or the
    coordinators it creates could never be reached (nobody could add one again)."""
    if actor is None and not codes_kept:
        raise BadInput(_("this ledger has no coordinator yet: seeding creates coordinators, "
                         "so give --codes FILE to keep their access codes; nothing was "
                         "written"))


def get_volunteer(session: Session, *, ref: str) -> Volunteer:
    """A volunteer by id (or by exact name when it is unique)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        vol = session.get(Volunteer, int(ref)) if 0 < int(ref) < 2**31 else None
        if vol is None:
            raise NotFound(_("no volunteer with id {id}").format(id=ref))
        return vol
    found = session.scalars(select(Volunteer).where(Volunteer.name == ref)).all()
    if not found:
        raise NotFound(_("no volunteer named {name}").format(name=repr(ref)))
    if len(found) > 1:
        raise BadInput(_("{n} volunteers are named {name}; use the id ({ids})").format(
            n=len(found), name=repr(ref), ids=", ".join(str(v.id) for v in found[:5])))
    return found[0]


def active_coordinators(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Volunteer).where(
        Volunteer.role == Role.COORDINATOR, Volunteer.active.is_(True)))


@requires(COORDINATOR)
def set_volunteer_active(session: Session, *, volunteer: Volunteer, active: bool,
                         actor: Actor) -> bool:
    """Mark a volunteer active or inactive; returns whether anything changed.

    The last active coordinator is never made inactive: nobody could undo it. A
    coordinator made active again counts as a coordinator from now on (`coordinator_since`).
    """
    if volunteer.active == active:
        return False
    if not active and volunteer.role == Role.COORDINATOR and active_coordinators(session) <= 1:
        raise Refused(_("volunteer {id} is the last active coordinator: add or activate "
                        "another coordinator first").format(id=volunteer.id))
    volunteer.active = active
    if active and volunteer.role == Role.COORDINATOR:
        volunteer.coordinator_since = _utcnow()
    session.flush()
    return True


@requires(COORDINATOR)
def reactivate_member(session: Session, *, member_ref: str, reason: str,
                      actor: Actor) -> Member:
    """Undo a member's do-not-contact, or take a moved-out member back in (coordinators):
    back to unverified, the reason in the history, so that the next survey confirms the
    details. Back in is a movement (``back_in``, `tasks.ledger.movements`)."""
    reason = check_name(reason.strip(), N_("the reason"), 300)
    if not reason:
        raise BadInput(_("reactivating a member needs a reason (--reason)"))
    member = find_member(session, ref=member_ref)
    if member.status not in (MemberStatus.DO_NOT_CONTACT, MemberStatus.MOVED_OUT):
        raise Refused(_("member {id} is {status}, not do_not_contact or moved_out: nothing "
                        "to reactivate").format(id=member.id,
                                                status=label(member.status, of="member_status")))
    back_in = member.status == MemberStatus.MOVED_OUT
    move_member(session, member, MemberStatus.UNVERIFIED, actor_id=actor.id,
                reason=f"reactivated: {reason}", coordinator=True)
    if back_in:
        from outreach.db.codes import MovementKind, MovementSource
        from outreach.tasks.kernel import rules
        from outreach.tasks.ledger.movements import record_movement

        record_movement(session, member, None, kind=MovementKind.BACK_IN,
                        source=MovementSource.CLI, recorded_by=actor.id,
                        happened_on=rules.real_today())
    return member


def find_member(session: Session, *, ref: str) -> Member:
    """A member by ledger number, else by numeric id."""
    ref = ref.strip()
    if not ref:
        raise BadInput(_("give a member id or ledger number"))
    member = session.scalars(select(Member).where(Member.ledger_no == ref)).first()
    if member is None and ref.isascii() and ref.isdigit() and 0 < int(ref) < 2**31:
        member = session.get(Member, int(ref))
    if member is None:
        raise NotFound(_("no member with ledger number or id {ref}").format(ref=repr(ref)))
    return member


def coordinator_for(session: Session, branch_id: int) -> int | None:
    """An active coordinator of the branch or the nearest branch above it."""
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
