"""Movements (inflow and outflow): one row for every change of where a member lives.

Every path that changes a member's residence — a task's ``moved`` outcome, a survey answer
(`tasks.work.outcomes`), the ledger import (`tasks.ledger.book`), a coordinator's `member confirm …
moved` (moved out) and taking a moved-out member back in — calls `record_movement` (one
member) or `record_movements` (many, ONE insert), so the rule lives here:

* local → away: kind ``away``, ``Member.away_since`` set to the day;
* away → local: kind ``back``, ``away_since`` and ``transfer_considered_on`` cleared (a
  member who leaves again gets a new transfer consideration after six months);
* away → away with a new address: kind ``city`` (``away_since`` kept);
* confirmed moved out: ``moved_out``; taken back in (`tasks.ledger.people.reactivate_member`):
  ``back_in`` — living away, a new stay away from that day (``away_since``), else local.

A member imported as living away gets ``away_since`` = the day of the import (the ledger
file has no date of moving), as does one already away without it (`tasks.ledger.book`).

``from_place`` / ``to_place`` are residence LABELS (``local``, ``away``, ``moved out``) or a
city/region someone typed — never a street address: movements are shown in reports.

Service steps: they take a Session and flush; the guarded functions that call them
(`record_outcome`, `import_ledger`, `confirm`) checked the actor. Nothing here shows a
member's contact details.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from outreach.db.codes import MovementKind, MovementSource, Residence
from outreach.db.errors import BadInput
from outreach.db.models import Member, Movement
from outreach.i18n import N_, _
from outreach.tasks.kernel import rules

#: The labels a movement shows for each residence (and for a member moved out).
LABEL = {Residence.LOCAL.value: "local", Residence.AWAY.value: "away"}
MOVED_OUT_LABEL = "moved out"
#: A place someone typed: a city or region, short.
PLACE_LEN = 80


@dataclass
class Move:
    """One member's change, as the caller saw it."""

    member: Member
    kind: MovementKind
    happened_on: dt.date
    from_place: str | None
    to_place: str | None


def check_place(place: str | None) -> str | None:
    """A city or region typed by a person: short, one line, no digits (a street address
    has a number; a city has none)."""
    if place is None or not str(place).strip():
        return None
    text = " ".join(str(place).split())
    rules.check_text(text, N_("the place"))
    if len(text) > PLACE_LEN or any(ch.isdigit() for ch in text):
        raise BadInput(_("a place is a city or region ({limit} characters at most, no street "
                         "address or number)").format(limit=PLACE_LEN))
    return text


def residence_move(member: Member, old: str, new: str, *, happened_on: dt.date,
                   address_changed: bool = False, place: str | None = None) -> Move | None:
    """The movement of a residence change ``old`` → ``new`` (None: no movement)."""
    old, new = str(old), str(new)
    if old == new:
        if new == Residence.AWAY.value and (address_changed or place):
            return Move(member, MovementKind.CITY, happened_on, "away", check_place(place) or "away")
        return None
    kind = MovementKind.AWAY if new == Residence.AWAY.value else MovementKind.BACK
    return Move(member, kind, happened_on, LABEL.get(old, old),
                check_place(place) or LABEL.get(new, new))


def record_movements(session: Session, moves: list[Move], *, source: MovementSource | str,
                     recorded_by: int | None) -> int:
    """Write the movements (ONE insert) and keep ``away_since`` / ``transfer_considered_on``
    on each member. Returns how many rows."""
    source = MovementSource(source)
    rows = []
    for mv in moves:
        m = mv.member
        if mv.kind == MovementKind.AWAY or (mv.kind == MovementKind.BACK_IN
                                             and str(m.residence) == Residence.AWAY.value):
            # a member back in who lives away starts a new stay away that day
            m.away_since = mv.happened_on
            m.transfer_considered_on = None
        elif mv.kind in (MovementKind.BACK, MovementKind.BACK_IN):
            m.away_since = None
            m.transfer_considered_on = None
        rows.append(dict(member_id=m.id, kind=mv.kind.value, happened_on=mv.happened_on,
                         from_place=mv.from_place, to_place=mv.to_place,
                         source=source.value, recorded_by=recorded_by))
    if rows:
        session.flush()
        for i in range(0, len(rows), 5000):
            session.execute(insert(Movement), rows[i:i + 5000])
    return len(rows)


def record_movement(session: Session, member: Member, new_residence: str | None, *,
                    source: MovementSource | str, recorded_by: int | None,
                    happened_on: dt.date, old_residence: str | None = None,
                    kind: MovementKind | None = None, address_changed: bool = False,
                    place: str | None = None) -> Movement | None:
    """One member's movement. ``new_residence``: where they live now (``old_residence``:
    before; default the member's current residence, so call this BEFORE changing it or
    pass the old value). ``kind`` moved_out / back_in: the member left the books or came
    back (residence unchanged). Returns nothing worth keeping (the row is inserted)."""
    if kind in (MovementKind.MOVED_OUT, MovementKind.BACK_IN):
        here = LABEL.get(str(member.residence), str(member.residence))
        move = Move(member, kind, happened_on,
                    here if kind == MovementKind.MOVED_OUT else MOVED_OUT_LABEL,
                    check_place(place) or (MOVED_OUT_LABEL if kind == MovementKind.MOVED_OUT
                                           else here))
    else:
        old = old_residence if old_residence is not None else str(member.residence)
        move = residence_move(member, old, str(new_residence or old),
                              happened_on=happened_on, address_changed=address_changed,
                              place=place)
    if move is None:
        return None
    record_movements(session, [move], source=source, recorded_by=recorded_by)
    return None
