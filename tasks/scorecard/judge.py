"""The scorecard's judgement of a member's facts, written twice on purpose: over a group's
packed facts in Python (`judge`, what `tasks.scorecard.facts.branch_counts` counts with —
a few thousand judgements instead of one per member) and over each member's facts in SQL
(`indicator_cells`, what `tasks.scorecard.scorecard.scorecard_members` lists with).
`tests/tasks/test_scorecard_agrees.py` checks, on ledgers Hypothesis makes up, that every
cell equals the number of members its list shows (denominator minus numerator).

Pure functions over ints and SQL expressions; no session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, false, literal, or_

from outreach.db.models import Residence
from outreach.tasks.scorecard import rules as score_rules


@dataclass(frozen=True)
class Quarter:
    """What is known of a quarter before its members are read: its days, whether the
    status history must be read (`changed_since`), the lectures and theme days (``edu``)
    and assemblies (``asm``) held in it, as meeting ids and as branch → how many held."""

    first: dt.date
    last: dt.date
    history: bool
    edu_ids: tuple[int, ...]
    asm_ids: tuple[int, ...]
    edu_hosts: dict[int, int]
    asm_hosts: dict[int, int]

    @property
    def year_from(self) -> dt.date:
        return self.last - dt.timedelta(days=score_rules.YEAR_DAYS - 1)

    @property
    def meetings(self) -> bool:
        return bool(self.edu_ids or self.asm_ids)


def packed(facts, n: int):
    """The facts of a member (`member_facts`, ``n`` quarters) packed in one integer, so that the
    members are grouped by (branch, this, the meeting counts) — a few thousand groups —
    and every indicator is judged once per group, in Python (`judge`), not once per
    member in SQL. Bits, low to high: away, not homebound, then ``n`` bits each of
    contacted, delivered, contributed, counted, address confirmed (bit ``i``: quarter
    ``i``)."""
    def flag(cond, weight: int):
        return case((cond, weight), else_=0)

    word = (flag(facts.c.residence == Residence.AWAY.value, 1)
            + flag(facts.c.homebound.is_(False), 2)
            + facts.c.contacted * 4 + facts.c.delivered * (4 << n)
            + facts.c.contributed * (4 << 2 * n))
    for i in range(n):
        word = word + facts.c[f"counted{i}"] * (4 << (3 * n + i)) \
            + facts.c[f"verified{i}"] * (4 << (4 * n + i))
    return word


def judge(q: Quarter, i: int, n: int, word: int, edu_n: int, asm_n: int, need_edu: int,
           need_asm: int) -> dict[str, tuple[bool, bool]] | None:
    """Quarter ``i`` of ``n`` for a group of members (`packed` ``word``, their counts of
    the quarter's meetings ``edu_n``, ``asm_n``, and how many their branch was asked,
    ``need_edu``, ``need_asm``): indicator → (in the denominator, in the numerator); None
    when they are not counted in that quarter. The same rules as `indicator_cells`."""
    def bit(field: int) -> bool:
        return bool(word >> (2 + field * n + i) & 1)

    if not bit(3):
        return None
    away, free = bool(word & 1), bool(word & 2)
    edu_in = bool(q.edu_ids) and need_edu > 0
    asm_in = bool(q.asm_ids) and need_asm > 0
    return {
        "movements": (True, bit(4)),
        "contact": (away, away and bit(0)),
        "education": (edu_in, edu_in and edu_n >= need_edu and (free or bit(1))),
        "rights": (asm_in, asm_in and asm_n >= need_asm),
        "role": (free, free and bit(2)),
    }


def meetings_asked(hosts: dict[int, int], chains: dict[int, tuple[int, ...]]) -> dict[int, int]:
    """Branch → how many meetings were asked of its members: those it and the branches
    above it held (``hosts``: branch → meetings held)."""
    return {b: sum(hosts.get(up, 0) for up in chain) for b, chain in chains.items()}


def required(hosts: dict[int, int], chains: dict[int, tuple[int, ...]], branch_col):
    """How many meetings are asked of a member of ``branch_col``'s branch: those its
    branch and the branches above it held (``hosts``: branch → meetings). A CASE over
    literal IN lists, one per distinct count (few): cheap per member, no join."""
    by_count: dict[int, list[int]] = {}
    for b, chain in chains.items():
        n = sum(hosts.get(up, 0) for up in chain)
        if n:
            by_count.setdefault(n, []).append(b)
    if not by_count:
        return literal(0)
    return case(*[(branch_col.in_(sorted(bs)), n) for n, bs in sorted(by_count.items())],
                else_=0)


def indicator_cells(facts, i: int, q: Quarter, chains) -> dict[str, tuple]:
    """Quarter ``i`` of `member_facts`: indicator → (in the denominator, in the numerator),
    SQL conditions over the facts' columns."""
    def bit(col):
        return col.op("&")(1 << i) != 0

    counted = facts.c[f"counted{i}"] == 1
    away = facts.c.residence == Residence.AWAY.value
    free = facts.c.homebound.is_(False)
    n_edu = required(q.edu_hosts, chains, facts.c.branch_id)
    n_asm = required(q.asm_hosts, chains, facts.c.branch_id)
    edu_in = and_(counted, n_edu > 0) if q.edu_ids else false()
    asm_in = and_(counted, n_asm > 0) if q.asm_ids else false()
    return {
        "movements": (counted, and_(counted, facts.c.address_verified_on.between(
            q.year_from, q.last))),
        "contact": (and_(counted, away), and_(counted, away, bit(facts.c.contacted))),
        "education": (edu_in, and_(edu_in, facts.c[f"e{i}"] >= n_edu,
                                   or_(free, bit(facts.c.delivered)))),
        "rights": (asm_in, and_(asm_in, facts.c[f"a{i}"] >= n_asm)),
        "role": (and_(counted, free), and_(counted, free, bit(facts.c.contributed))),
    }
