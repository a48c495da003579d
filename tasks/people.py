"""Branches, volunteers and finding members: small keyword-only service functions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import BadInput, NotFound, Refused
from db.models import Branch, BranchKind, Member, Role, Volunteer
from tasks.access import Actor, format_code, new_credentials, require_coordinator
from tasks.csvfile import CONTROL



def check_name(value: str, what: str, limit: int) -> str:
    """A name as the ledger import accepts it: no control characters, at most ``limit``."""
    if len(value) > limit:
        raise BadInput(f"{what} is longer than {limit} characters")
    if CONTROL.search(value):
        raise BadInput(f"{what} contains control characters")
    return value


def get_branch(session: Session, *, name: str) -> Branch | None:
    """The branch of that name, or None."""
    return session.scalars(select(Branch).where(Branch.name == name)).first()


def get_or_create_branch(session: Session, *, name: str,
                         kind: BranchKind = BranchKind.GEOGRAPHIC,
                         parent: Branch | None = None) -> tuple[Branch, bool]:
    """The branch of that name, created if missing; returns (branch, created)."""
    name = check_name(name.strip(), "the branch name", 120)
    if not name:
        raise BadInput("a branch needs a name")
    branch = get_branch(session, name=name)
    if branch is not None:
        return branch, False
    branch = Branch(name=name, kind=kind, parent_id=parent.id if parent else None)
    session.add(branch)
    session.flush()
    return branch, True


def subtree_ids(session: Session, *, branch_id: int) -> list[int]:
    """A branch and every branch nested below it (branches are few: done in Python)."""
    rows = session.execute(select(Branch.id, Branch.parent_id)).all()
    if branch_id not in {r[0] for r in rows}:
        raise NotFound(f"no branch with id {branch_id}")
    children: dict[int | None, list[int]] = {}
    for bid, parent in rows:
        children.setdefault(parent, []).append(bid)
    out, todo = [], [branch_id]
    while todo:
        bid = todo.pop()
        out.append(bid)
        todo.extend(children.get(bid, []))
    return out


def coordinator_exists(session: Session) -> bool:
    return session.scalar(
        select(func.count()).select_from(Volunteer).where(Volunteer.role == Role.COORDINATOR)
    ) > 0


def require_ledger_writer(session: Session, actor: Actor | None, *, bootstrap: bool = False) -> None:
    """Changing the ledger needs a coordinator; ``bootstrap`` allows it while none exists."""
    if bootstrap and not coordinator_exists(session):
        return
    if actor is None:
        if not coordinator_exists(session):
            raise Refused("there is no coordinator yet: create one first with "
                          "`outreach volunteer add NAME --branch BRANCH --coordinator`")
        raise Refused("this needs a coordinator's access code: run `outreach login` "
                      "or set OUTREACH_TOKEN")
    require_coordinator(actor)


def add_volunteer(session: Session, *, name: str, branch: str, coordinator: bool = False,
                  capacity: int = 20) -> tuple[Volunteer, str, bool]:
    """Add a volunteer or coordinator; returns (volunteer, access code, branch created).

    The code is returned once, here; only its salted hash is stored.
    """
    name = check_name(name.strip(), "the name", 200)
    if not name:
        raise BadInput("a volunteer needs a name")
    if capacity < 0 or capacity > 10_000:
        raise BadInput(f"capacity must be between 0 and 10000, not {capacity}")
    br, created = get_or_create_branch(session, name=branch)
    secret, salt, digest = new_credentials()
    vol = Volunteer(name=name, branch_id=br.id, capacity=capacity,
                    role=Role.COORDINATOR if coordinator else Role.VOLUNTEER,
                    code_salt=salt, code_hash=digest, active=True)
    session.add(vol)
    session.flush()
    return vol, format_code(vol.id, secret), created


def get_volunteer(session: Session, *, ref: str) -> Volunteer:
    """A volunteer by id (or by exact name when it is unique)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        vol = session.get(Volunteer, int(ref)) if 0 < int(ref) < 2**31 else None
        if vol is None:
            raise NotFound(f"no volunteer with id {ref}")
        return vol
    found = session.scalars(select(Volunteer).where(Volunteer.name == ref)).all()
    if not found:
        raise NotFound(f"no volunteer named {ref!r}")
    if len(found) > 1:
        raise BadInput(f"{len(found)} volunteers are named {ref!r}; use the id "
                       f"({', '.join(str(v.id) for v in found[:5])})")
    return found[0]


def set_volunteer_active(session: Session, *, volunteer: Volunteer, active: bool) -> None:
    volunteer.active = active
    session.flush()


def find_member(session: Session, *, ref: str) -> Member:
    """A member by ledger number, else by numeric id."""
    ref = ref.strip()
    if not ref:
        raise BadInput("give a member id or ledger number")
    member = session.scalars(select(Member).where(Member.ledger_no == ref)).first()
    if member is None and ref.isascii() and ref.isdigit() and 0 < int(ref) < 2**31:
        member = session.get(Member, int(ref))
    if member is None:
        raise NotFound(f"no member with ledger number or id {ref!r}")
    return member
