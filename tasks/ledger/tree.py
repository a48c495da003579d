"""The branch tree, walked one way: ancestor chains, subtrees, the nearest branch up.

Branches are few (hundreds at most), so the whole tree is read in one query and walked
in Python. Every caller — planning (continuity and "up the tree" matching, the branch
filter), coverage (a branch and what is nested under it), people, escalations (the
nearest coordinator up the tree), ledger import (does a volunteer still cover a moved
member) — uses these functions, not a walk of its own.

Transactions: reads only, through the caller's Session or Connection.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from outreach.db.errors import NotFound
from outreach.db.models import Branch
from outreach.i18n import _

T = TypeVar("T")
#: Deeper than this is a loop in bad data, not a tree.
MAX_DEPTH = 64

Chains = dict[int, tuple[int, ...]]


def parents(bind: Session | Connection) -> dict[int, int | None]:
    """Every branch id → its parent id (None at a root)."""
    return {b: p for b, p in bind.execute(select(Branch.id, Branch.parent_id))}


def chains_of(parent: dict[int, int | None]) -> Chains:
    """Every branch → (itself, its parent, grandparent, …) up to the root (pure)."""
    out: Chains = {}
    for b in parent:
        chain, cur = [b], parent[b]
        while cur is not None and cur not in chain and len(chain) <= MAX_DEPTH:
            chain.append(cur)
            cur = parent.get(cur)
        out[b] = tuple(chain)
    return out


def chains(bind: Session | Connection) -> Chains:
    """Every branch → its ancestor chain, read from the database."""
    return chains_of(parents(bind))


def subtree(all_chains: Chains, branch_id: int) -> list[int]:
    """``branch_id`` and every branch nested under it, in id order (pure)."""
    if branch_id not in all_chains:
        raise NotFound(_("no branch with id {id}").format(id=branch_id))
    return sorted(b for b, chain in all_chains.items() if branch_id in chain)


def subtree_ids(bind: Session | Connection, branch_id: int) -> list[int]:
    """``branch_id`` and every branch nested under it (NotFound for an unknown branch)."""
    return subtree(chains(bind), branch_id)


def ancestors(bind: Session | Connection, branch_id: int) -> tuple[int, ...]:
    """(branch_id, its parent, …, the root); empty for an unknown branch."""
    return chains(bind).get(branch_id, ())


def covers(all_chains: Chains, upper: int, branch_id: int) -> bool:
    """True if ``upper`` is ``branch_id`` or one of its ancestors (pure)."""
    return upper in all_chains.get(branch_id, (branch_id,))


def nearest_up(bind: Session | Connection, branch_id: int,
               pick: Callable[[int], T | None]) -> T | None:
    """The first non-None ``pick(b)`` for b = the branch, its parent, … up to the root."""
    for b in ancestors(bind, branch_id):
        found = pick(b)
        if found is not None:
            return found
    return None
