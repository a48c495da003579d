"""Shards of a campaign run: parts of the ledger independent for assignment, so that each
can be planned by its own flow run, on its own worker, at the same time (PostgreSQL).

Why a part is independent (`tasks.work.assign.match`): a member only ever goes to a volunteer of
their own branch or of a branch above it — continuity too — and a volunteer's load only
grows by the tasks planned for them. A *staffed* branch is one with a volunteer who may
take planned tasks (active, role ``volunteer``, capacity above 0). Members whose branches
share no staffed branch above them never compete for a slot; planning them apart, each
part range by range over the same ranges of member ids, gives every member exactly the
volunteer (or the open task) that one run over everything gives. So the parts are:

* a *region*: a branch with everything nested under it, when no branch above it is
  staffed (every root is one to begin with);
* a branch *alone*: the own members of an unstaffed branch whose regions below were cut
  off (nobody at or above it may take their tasks: they stay open).

`parts` cuts regions from the roots down — the largest unstaffed one first — until there
are `PARTS_PER_SHARD` per shard or nothing more can be cut (nor is a branch cut whose
children would make more than `MAX_PARTS` parts); `pack` deals them out, the
largest first to the shard with the fewest members. A region is never split by ranges of
member ids: a range's loads are read after the ranges before it and its continuity goes
first, so a second half planned beside the first would see loads without the first
half's tasks and hand out different volunteers.

A shard's range (`tasks.campaigns.plan_jobs.plan_range` with ``shard``) targets the shard's
branches only, hands out only the slots of volunteers in its regions (`Shard.own`: should
a volunteer join a branch above meanwhile, what would go to them stays open and the run's
`assign_open` hands it out at the end, under the exclusive lock) and takes `lock`: the
planners' lock shared, every branch above its regions shared, its regions exclusive (and
its branches alone: see `lock`).
Two shards never hand out the same slot, even when two runs cut the tree differently
(the run that cut higher holds exclusive a branch that the other holds shared).

Pure Python over ids, and one lock call on the caller's Connection; the jobs that split
and plan a run are in `tasks.campaigns.shard_jobs`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Collection, NamedTuple

from sqlalchemy import Connection

from outreach.db.dialect import lock_parts
from outreach.tasks.ledger import tree
from outreach.tasks.work.assign import ASSIGN_LOCK

#: Parts cut per shard, so that the largest-first dealing evens the shards out.
PARTS_PER_SHARD = 4
#: At most this many parts in a run. Each range of a shard takes one advisory lock per
#: region it holds (`lock`), all in one transaction, and PostgreSQL keeps every lock of
#: every session in one shared table of ``max_locks_per_transaction × max_connections``
#: slots (6,400 by default): cutting an unstaffed branch with 100,000 children into as
#: many regions would make a shard's range fail with "out of shared memory". Such a
#: branch stays whole instead (one part: fewer shards, the same tasks).
MAX_PARTS = 256
#: When the number of shards is left to the run (``shards=0``): at least this many ranges
#: of member ids per shard. A shard's flow run costs seconds to start (a worker's pickup, a
#: fresh process); below that it costs more than it saves — 200,000 members on 2 busy
#: cores: one run 18.6 s, two shards 25.2 s (bench/bench_national.py).
RANGES_PER_SHARD = 3
#: First key of the per-branch advisory locks of shards (second key: the branch id).
BRANCH_LOCK = 7_204_312
#: First key of the locks of the branches a shard plans alone (`lock`).
ALONE_LOCK = 7_204_313
#: The counts a range or a shard returns that add up (`add`).
COUNTS = ("targeted", "created", "assigned", "continuity", "parent", "unassigned", "busy")


class Part(NamedTuple):
    """A region (``whole``: the branch and everything under it) or a branch alone."""

    branch: int
    whole: bool
    members: int


@dataclass(frozen=True)
class Shard:
    """Regions and branches alone planned together by one flow run; ``members``: how many
    members they hold (the weight `pack` evens out)."""

    regions: tuple[int, ...]
    alone: tuple[int, ...] = ()
    members: int = 0

    def region_branches(self, chains: tree.Chains) -> set[int]:
        """Every branch in the shard's regions (the regions and all nested in them)."""
        tops = set(self.regions)
        return {b for b, chain in chains.items() if not tops.isdisjoint(chain)}

    def targets(self, chains: tree.Chains, *, within: Collection[int] | None = None
                ) -> list[int]:
        """The branches whose members the shard plans (inside ``within`` if given)."""
        mine = self.region_branches(chains) | set(self.alone)
        if within is not None:
            mine &= set(within)
        return sorted(mine)

    def own(self, volunteers: dict[int, list[int]], chains: tree.Chains
            ) -> dict[int, list[int]]:
        """The volunteers (id → [branch, capacity, load]) whose slots the shard may hand
        out: those of a branch in its regions."""
        mine = self.region_branches(chains)
        return {v: row for v, row in volunteers.items() if row[0] in mine}


def parts(parent: dict[int, int | None], staffed: Collection[int],
          members: dict[int, int], *, want: int, most: int = MAX_PARTS) -> list[Part]:
    """Cut the tree into parts independent for assignment (see the module), the largest
    unstaffed region first, until there are ``want`` parts or none can be cut; a region
    whose cut would make more than ``most`` parts is not cut.

    ``parent``: branch → parent (None at a root); ``staffed``: branches with a volunteer
    who may take planned tasks; ``members``: branch → how many members it holds itself.
    Parts without members are left out. Pure.
    """
    staffed = set(staffed)
    children: dict[int | None, list[int]] = {}
    for b, p in sorted(parent.items()):
        children.setdefault(p, []).append(b)
    total = dict.fromkeys(parent, 0)
    for b, chain in tree.chains_of(parent).items():
        n = members.get(b, 0)
        if n:
            for a in chain:
                total[a] += n
    # heap of whole regions, largest first (ties: lowest id); cut ones become `alone`
    heap = [(-total[b], b) for b in children.get(None, [])]
    heapq.heapify(heap)
    kept: list[Part] = []
    alone: list[Part] = []
    while heap:
        size, b = heapq.heappop(heap)
        counted = len(kept) + len(heap) + 1 + sum(1 for a in alone if a.members)
        if (counted >= want or b in staffed or not children.get(b) or not size
                or counted - 1 + len(children[b]) + bool(members.get(b)) > most):
            kept.append(Part(b, True, -size))
            continue
        alone.append(Part(b, False, members.get(b, 0)))
        for c in children[b]:
            heapq.heappush(heap, (-total[c], c))
    return [p for p in kept + alone if p.members]


def pack(found: list[Part], count: int) -> list[Shard]:
    """Deal the parts out to at most ``count`` shards, each part (largest first) to the
    shard with the fewest members so far (ties: the first); empty shards are left out.
    Pure."""
    count = max(1, min(count, len(found)))
    bins = [{"regions": [], "alone": [], "members": 0} for _ in range(count)]
    for p in sorted(found, key=lambda p: (-p.members, p.branch)):
        fewest = min(bins, key=lambda b: b["members"])
        fewest["regions" if p.whole else "alone"].append(p.branch)
        fewest["members"] += p.members
    return [Shard(tuple(sorted(b["regions"])), tuple(sorted(b["alone"])), b["members"])
            for b in bins if b["members"]]

def add(totals: dict, counts: dict) -> dict:
    """``totals`` plus the counts (`COUNTS`, and ``ranges``) of a range or a shard."""
    for key in (*COUNTS, "ranges"):
        if key in counts:
            totals[key] = totals.get(key, 0) + counts[key]
    return totals


def spans(first: int, stop: int, size: int) -> list[tuple[int, int]]:
    """The run's ranges ``[lo, hi)`` of ``size`` member ids from ``first`` up to ``stop``
    (`tasks.campaigns.plan_jobs.id_ranges` gives ``first`` = the lowest id, ``stop`` = highest + 1):
    every shard plans these same ranges, in this order."""
    return [(lo, min(lo + size, stop)) for lo in range(first, stop, size)]


def plan_ranges(ranges: list[tuple[int, int]], plan_one: Callable[[int, int], dict], *,
                step: Callable[[], None] | None = None) -> dict:
    """A shard's body: ``plan_one(lo, hi)`` for every range in turn; returns the summed
    counts (`add`) and ``ranges``. `tasks.campaigns.shard_jobs` passes `plan_range` with the shard,
    the flows their Prefect task wrapping it."""
    totals: dict = {"ranges": 0}
    for lo, hi in ranges:
        add(totals, {**plan_one(lo, hi), "ranges": 1})
        if step is not None:
            step()
    return totals


def lock(conn: Connection, chains: tree.Chains, shard: Shard) -> None:
    """PostgreSQL: the locks of one of the shard's ranges, for this transaction: the
    planners' lock (`tasks.work.assign.ASSIGN_LOCK`) shared, every branch above the shard's
    regions shared and its regions exclusive (`db.dialect.lock_parts`).

    A branch alone hands out no slot, but its members' targets are read and written under
    these locks like any other's: it is taken shared with every branch above it (a shard
    of another run whose region holds it waits for it), and exclusive under a key of its
    own, `ALONE_LOCK` (a shard of another run that has the same branch alone waits too) —
    so that two runs of one kind never both give its member an open task, as the
    planners' lock ensures for unsharded runs. Shards of one run never wait for each
    other's: none holds a branch alone of another exclusive under `BRANCH_LOCK` (it was
    cut), and each branch alone is in one shard. The locks are taken in one order — the
    planners' lock, the branches, the branches alone — so no two shards deadlock."""
    above = {a for r in shard.regions for a in chains.get(r, (r,))[1:]}
    above |= {a for b in shard.alone for a in chains.get(b, (b,))}
    lock_parts(conn, ASSIGN_LOCK, BRANCH_LOCK, shared=sorted(above - set(shard.regions)),
               exclusive=shard.regions)
    if shard.alone:
        lock_parts(conn, ASSIGN_LOCK, ALONE_LOCK, shared=(), exclusive=shard.alone)
