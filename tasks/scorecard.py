"""The scorecard: how each branch stands on the six haves in a quarter (issue 13).

Per branch (and a TOTAL row), six indicators, each a numerator over a denominator against
a goal (`tasks.rules.GOALS`, overridable in ``OUTREACH_HOME/goals.json``), marked green
(at or above the goal), amber (at most 10 points below), red — or ``n/a`` when there is
nothing to count — with the change from the previous quarter in percentage points.

Who is counted (the base population of every indicator): the members of the branch who
were contactable (unverified, active, unreachable) ON THE QUARTER'S LAST DAY. Their status
on that day is read from the status history (``member_status_changes``): the ``from`` of
their first change after that day, or their current status if nothing changed since. A
member whose first history row (created) is after that day was not in the ledger yet and
is not counted. Branch, residence and homebound are the CURRENT ones (the history of those
is in ``member_changes`` as text; replaying it per quarter is not worth its cost here), and
so is ``address_verified_on``: for a past quarter a later confirmation hides an earlier one.

The indicators (a row per branch counts the branch's own members; ``branch_id`` limits the
rows to a branch and those nested in it; TOTAL sums the rows):

1. ``movements`` — address confirmed (``address_verified_on``) in the 365 days up to and
   including the quarter's last day.
2. ``contact`` — of the members living away: a successful contact (an outcome of
   `rules.SUCCESSFUL_CONTACT` on a task of the member's own: not an escalation or a
   transfer) recorded in the quarter.
3. ``education`` — the lectures and theme days "their branch held": held (or closed) in the
   quarter by the member's branch or a branch above it (whose invitations reach the
   member). Fulfilled: present, remote or made up at as many of them as were held (the
   marks are counted on the member's attendance rows, which exist only where they were
   invited); homebound members also need a completed delivery (a delivery task's attempt
   delivered, or delivered to the family, recorded in the quarter: it closes the task as
   done). A member whose branches held none is LEFT OUT of the denominator (nothing was
   asked of them); a branch that held none shows ``n/a``, not green — the meetings report
   says which branches are behind their cadence.
4. ``care`` — care occasions of the quarter (``occasion_on`` in it) of counted members,
   cancelled ones left out; fulfilled when ``visited`` (a care visit within the window).
5. ``rights`` — like education, for the assemblies: present or remote, or a done notice
   task for that assembly. Members whose branches held no assembly are left out.
6. ``role`` — of the members not homebound: a contribution in the 365 days up to and
   including the quarter's last day.

Set-based: per quarter one GROUP BY over the members — by branch and their flags packed
in one integer (`_BITS`), the attendance and notice counts and the contributions as
outer-joined sets, contacts and deliveries as EXISTS probes of the members they concern
(`_probe`; never an ``IN (subquery)`` in the select list), the meetings asked of each
branch as a CASE over literal branch lists — and one over the quarter's care occasions,
for the quarter and the one before it. The status history is read only when some status
changed after the quarter's last day (`_changed_since`), and a quarter before the first
member is not queried (`_existed`). On a big ledger the queries run for each half of the
member ids on two connections (`_run`; PostgreSQL with `PG_WORK_MEM`). The branch tree is
read in Python (`tasks.tree`). Reads only; migration 0008's indexes carry what it reads.
Measured (`bench.bench_scorecard`, 1,000,000 members): SQLite ~3 s, PostgreSQL ~8 s —
over the 3 s asked; see README "Benchmarks".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union,
)
from sqlalchemy.orm import Session

from db.dialect import is_pg
from db.errors import BadInput
from db.machines import (
    CONTACTABLE_MEMBER,
    HELD_MEETING,
    TOOK_PART,
    AttendanceStatus,
    CareStatus,
    TaskStatus,
)
from db.models import (
    Attempt,
    Attendance,
    Branch,
    CampaignKind,
    CampaignRun,
    CareOccasion,
    Contribution,
    Meeting,
    MeetingKind,
    Member,
    MemberStatusChange,
    Outcome,
    OutreachTask,
    Residence,
)
from i18n import _
from tasks import rules, tree
from tasks.access import COORDINATOR, COUNTS, Actor, requires
from tasks.labels import label

INDICATORS = tuple(rules.GOALS)
CONTACTABLE = tuple(sorted(str(s) for s in CONTACTABLE_MEMBER))
SUCCESS = tuple(sorted(str(o) for o in rules.SUCCESSFUL_CONTACT))
MEMBER_KINDS = tuple(sorted(str(k) for k in rules.MEMBER_KINDS))
#: A completed delivery: the material reached the member (or their family).
DELIVERED = (Outcome.DELIVERED.value, Outcome.DELIVERED_TO_FAMILY.value)
EDUCATION_KINDS = (MeetingKind.LECTURE.value, MeetingKind.THEME_DAY.value)
RIGHTS_TOOK_PART = (AttendanceStatus.PRESENT.value, AttendanceStatus.REMOTE.value)
MARKS = {"green": "🟢", "amber": "🟡", "red": "🔴", "n/a": "⚪"}
COLUMNS = ("branch", "indicator", "numerator", "denominator", "percent", "goal", "status",
           "change")


def _quarter(period: str) -> tuple[str, dt.date, dt.date]:
    period = rules.check_quarter(period)
    first, last = rules.quarter_bounds(period, rules.FIRST_DAY)
    return period, first, last


def previous_quarter(period: str) -> str:
    """The quarter before ``period`` (YYYY-Qn)."""
    first = _quarter(period)[1]
    return rules.quarter_of(first - dt.timedelta(days=1))


def _scope(session: Session, branch_id: int | None) -> list[int] | None:
    if branch_id is None:
        return None
    if isinstance(branch_id, bool) or not isinstance(branch_id, int):
        raise BadInput(_("the branch must be a branch id"))
    return tree.subtree_ids(session, branch_id)


# --- who is counted, and the facts about each member -------------------------------------------


def _after(last: dt.date) -> dt.datetime:
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time())


def _changed_since(session: Session, last: dt.date) -> bool:
    """Whether any member's status changed after ``last`` (one probe of
    ``ix_member_status_changes_at``). When none did — the current quarter, as a rule —
    everybody's status on that day is their status now: no history join at all."""
    return session.scalar(select(MemberStatusChange.id)
                          .where(MemberStatusChange.at >= _after(last)).limit(1)) is not None


def _existed(session: Session, last: dt.date) -> bool:
    """Whether any member was in the ledger on ``last``: every member's history starts
    with the row of their creation, so one history row before the next day is enough (one
    probe of ``ix_member_status_changes_at``)."""
    return session.scalar(select(MemberStatusChange.id)
                          .where(MemberStatusChange.at < _after(last)).limit(1)) is not None


def _status_then(last: dt.date, lo: int | None, hi: int | None, history: bool):
    """The outer joins and the condition that keep the members (``Member`` in the FROM)
    contactable on ``last``: their status then, from the history when ``history``
    (`_changed_since`), else their status now."""
    if not history:
        return [], Member.status.in_(CONTACTABLE)
    later = (select(MemberStatusChange.member_id,
                    func.min(MemberStatusChange.id).label("first_id"))
             .where(MemberStatusChange.at >= _after(last),
                    # "+ 0": read the history by its date (ix_member_status_changes_at),
                    # not a row look-up per entry of the member_id index
                    *_id_range(lo, hi)(MemberStatusChange.member_id + 0))
             .group_by(MemberStatusChange.member_id).subquery("later"))
    first_change = MemberStatusChange.__table__.alias("first_change")
    joins = [(later, later.c.member_id == Member.id),
             (first_change, first_change.c.id == later.c.first_id)]
    return joins, func.coalesce(first_change.c.from_status, Member.status).in_(CONTACTABLE)


def _population(last: dt.date, scope: list[int] | None, lo: int | None = None,
                hi: int | None = None, history: bool = True):
    """Members contactable on ``last`` (their status then, from the history), ids ``lo`` …
    ``hi`` (None: open-ended): a subquery."""
    joins, counted = _status_then(last, lo, hi, history)
    stmt = select(Member.id, Member.branch_id, Member.residence, Member.homebound,
                  Member.address_verified_on)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on)
    stmt = stmt.where(counted)
    if scope is not None:
        stmt = stmt.where(Member.branch_id.in_(scope))
    return stmt.where(*_id_range(lo, hi)(Member.id)).subquery("pop")


def _held(session: Session, first: dt.date, last: dt.date, kinds) -> list[tuple[int, int]]:
    """(meeting id, branch id) of the meetings of ``kinds`` held in the quarter."""
    return list(session.execute(
        select(Meeting.id, Meeting.branch_id)
        .where(Meeting.status.in_([str(s) for s in HELD_MEETING]),
               Meeting.kind.in_(kinds), Meeting.held_on.between(first, last))).all())


def _id_range(lo: int | None, hi: int | None):
    """A function of a member id column giving the conditions ``lo <= col <= hi`` (None:
    open-ended), for the halves of a big ledger (`_counts`)."""
    def conds(col) -> list:
        return ([col >= lo] if lo is not None else []) + ([col <= hi] if hi is not None else [])
    return conds


def _probe(session: Session, member_id, lo: int | None, hi: int | None, found, col,
           name: str, *, correlated: bool):
    """``member_id`` is one of the members ``found`` (a SELECT of ``col``, a member id):
    (an outer join or None, the condition).

    ``correlated``: an EXISTS, worked out only for the members the condition before it
    lets through (away members, homebound ones): SQLite probes the member's covering
    indexes (a set would be every contact of the quarter, each a look-up into its task);
    PostgreSQL probes them too or hashes the set once, as it costs them. Else the set,
    distinct, outer-joined: hashed once (PostgreSQL) or indexed once (SQLite).

    Never ``member_id IN (subquery)`` in the select list: PostgreSQL makes it a SubPlan,
    hashed only while the set fits in work_mem and otherwise scanned again for every
    member — at a million members the scorecard ran for more than 15 minutes."""
    if correlated:
        return None, exists(found.where(col == member_id))
    got = found.where(*_id_range(lo, hi)(col)).distinct().subquery(name)
    return (got, got.c[col.key] == member_id), got.c[col.key].is_not(None)


def _required(hosts: dict[int, int], chains: dict[int, tuple[int, ...]], branch_col):
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


def _meeting_facts(session: Session, first: dt.date, last: dt.date):
    """For education and rights: the meetings held in the quarter, the branch tree, and
    a function of a member id range giving per member how many of them they fulfilled
    (``edu``, ``rights``: subqueries of member_id, n).

    A meeting counts for the members it invited (its branch and those nested in it, when
    it was planned): the attendance and notice rows are the invitations, so no branch
    test is made per row. (A member who moved to another branch within the quarter is
    counted on their old branch's meetings too.)"""
    chains = tree.chains(session)
    edu = _held(session, first, last, EDUCATION_KINDS)
    asm = _held(session, first, last, (MeetingKind.ASSEMBLY.value,))
    hosts_edu: dict[int, int] = {}
    hosts_asm: dict[int, int] = {}
    for _m, b in edu:
        hosts_edu[b] = hosts_edu.get(b, 0) + 1
    for _m, b in asm:
        hosts_asm[b] = hosts_asm.get(b, 0) + 1
    took = [str(s) for s in TOOK_PART]
    edu_ids = [m for m, _b in edu] or [-1]
    asm_ids = [m for m, _b in asm] or [-1]

    def per_member(lo: int | None, hi: int | None):
        ids = _id_range(lo, hi)

        edu_n = (select(Attendance.member_id, func.count().label("n"))
                 .where(Attendance.meeting_id.in_(edu_ids), Attendance.status.in_(took),
                        *ids(Attendance.member_id))
                 .group_by(Attendance.member_id).subquery("edu"))
        asm_pairs = union(
            select(Attendance.member_id, Attendance.meeting_id)
            .where(Attendance.meeting_id.in_(asm_ids),
                   Attendance.status.in_(RIGHTS_TOOK_PART), *ids(Attendance.member_id)),
            select(OutreachTask.member_id, CampaignRun.meeting_id.label("meeting_id"))
            .join(CampaignRun, CampaignRun.id == OutreachTask.run_id)
            .where(CampaignRun.meeting_id.in_(asm_ids),
                   OutreachTask.kind == CampaignKind.NOTICE.value,
                   OutreachTask.status == TaskStatus.DONE.value,
                   *ids(OutreachTask.member_id))).subquery("asm_pairs")
        asm_n = (select(asm_pairs.c.member_id, func.count().label("n"))
                 .group_by(asm_pairs.c.member_id).subquery("rights"))
        return edu_n, asm_n

    return hosts_edu, hosts_asm, chains, per_member


def _flags(session: Session, first: dt.date, last: dt.date, scope: list[int] | None,
           lo: int | None = None, hi: int | None = None, facts=..., history: bool | None = None):
    """Per counted member (ids ``lo`` … ``hi``): 0/1 columns, an ``*_in`` (in the
    denominator) and an ``*_ok`` (in the numerator) per member-based indicator. A
    subquery. ``facts``: `_meeting_facts` when the caller has them already; ``history``:
    `_changed_since` (None: asked here)."""
    if history is None:
        history = _changed_since(session, last)
    pop = _population(last, scope, lo, hi, history)
    year_from = last - dt.timedelta(days=rules.YEAR_DAYS - 1)
    away = pop.c.residence == Residence.AWAY.value
    free = pop.c.homebound.is_(False)
    joins = []

    def probe(found, col, name, *, correlated=False):
        join, cond = _probe(session, pop.c.id, lo, hi, found, col, name,
                            correlated=correlated)
        if join is not None:
            joins.append(join)
        return cond

    # SQLite: kind || '', so that a member's tasks are read once from
    # ix_outreach_tasks_member_run (which carries the kind), not looked up once per kind
    kind = OutreachTask.kind if is_pg(session) else type_coerce(OutreachTask.kind, String()) + ""
    contact = probe(
        select(OutreachTask.member_id).join(Attempt, Attempt.task_id == OutreachTask.id)
        .where(kind.in_(MEMBER_KINDS), Attempt.outcome.in_(SUCCESS),
               Attempt.recorded_on.between(first, last)), OutreachTask.member_id,
        "contacted", correlated=True)
    contributed = probe(
        select(Contribution.member_id)
        .where(Contribution.happened_on.between(year_from, last)), Contribution.member_id,
        "contributed")

    def flag(cond):
        return case((cond, 1), else_=0)

    cols = [pop.c.id.label("member_id"), pop.c.branch_id,
            literal(1).label("movements_in"),
            flag(pop.c.address_verified_on.between(year_from, last)).label("movements_ok"),
            flag(away).label("contact_in"), flag(and_(away, contact)).label("contact_ok"),
            flag(free).label("role_in"), flag(and_(free, contributed)).label("role_ok")]
    if facts is ...:
        facts = _meeting_facts(session, first, last)
    hosts_edu, hosts_asm, chains, per_member = facts
    if not hosts_edu and not hosts_asm:
        cols += [literal(0).label(n) for n in
                 ("education_in", "education_ok", "rights_in", "rights_ok")]
    else:
        # A delivered attempt closes its task as done (`rules.OUTCOMES`): no status test.
        delivery = probe(
            select(OutreachTask.member_id).join(Attempt, Attempt.task_id == OutreachTask.id)
            .where(OutreachTask.kind == CampaignKind.DELIVERY.value,
                   Attempt.outcome.in_(DELIVERED), Attempt.recorded_on.between(first, last)),
            OutreachTask.member_id, "delivered", correlated=True)
        edu, rights = per_member(lo, hi)
        joins += [(edu, edu.c.member_id == pop.c.id), (rights, rights.c.member_id == pop.c.id)]
        n_edu = _required(hosts_edu, chains, pop.c.branch_id)
        n_asm = _required(hosts_asm, chains, pop.c.branch_id)
        cols += [
            flag(n_edu > 0).label("education_in"),
            flag(and_(n_edu > 0, func.coalesce(edu.c.n, 0) >= n_edu,
                      or_(free, delivery))).label("education_ok"),
            flag(n_asm > 0).label("rights_in"),
            flag(and_(n_asm > 0, func.coalesce(rights.c.n, 0) >= n_asm)).label("rights_ok")]
    stmt = select(*cols).select_from(pop)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on)
    return pop, stmt.subquery("flags")


def _care_counts(first: dt.date, last: dt.date, scope: list[int] | None, lo: int | None,
                 hi: int | None, history: bool, *, tag: str):
    """Per branch: the care occasions of the quarter of counted members (cancelled ones
    left out) and how many were visited. Read from the quarter's occasions, each member
    looked up by id (not a probe per member)."""
    joins, counted = _status_then(last, lo, hi, history)
    visited = func.sum(case((CareOccasion.status == CareStatus.VISITED.value, 1), else_=0))
    stmt = (select(literal(tag), Member.branch_id, visited, func.count())
            .select_from(CareOccasion)
            .join(Member, Member.id == CareOccasion.member_id))
    for target, on in joins:
        stmt = stmt.outerjoin(target, on)
    stmt = stmt.where(*_care(first, last), counted, *_id_range(lo, hi)(CareOccasion.member_id))
    if scope is not None:
        stmt = stmt.where(Member.branch_id.in_(scope))
    return stmt.group_by(Member.branch_id)


def _care(first: dt.date, last: dt.date):
    """Care occasions of the quarter of counted members, cancelled ones left out."""
    # the other statuses listed (not "!= cancelled"): ranges of ix_care_occasions_status_on
    return (CareOccasion.occasion_on.between(first, last),
            CareOccasion.status.in_([s.value for s in CareStatus if s != CareStatus.CANCELLED]))


#: The member flags packed into one integer per member (bit i: `_BITS`[i] is 1), so that
#: the GROUP BY sorts or hashes (branch, bits) pairs instead of ten sums per row: grouping
#: a million rows with ten aggregates cost SQLite more than computing them.
_BITS = tuple(f"{name}_{part}" for name in INDICATORS if name != "care"
              for part in ("in", "ok"))


def _run(session: Session, parts_for) -> list:
    """The rows of every part query (``parts_for(lo, hi)``). SQLite: `coverage._run_parts`
    (each half of the member ids on its own connection on a big ledger). PostgreSQL, big
    ledger, not inside a wider transaction: the same halves on two connections, each tuned
    (`_tune`) and running its half's queries one after the other — one backend per core,
    where a single query hashes and joins on one core."""
    from concurrent.futures import ThreadPoolExecutor

    from tasks.coverage import PARALLEL_FROM, _run_parts

    if not is_pg(session):
        return _run_parts(session, parts_for)
    top = None if session.in_nested_transaction() else session.scalar(select(func.max(Member.id)))
    if not top or top < PARALLEL_FROM:
        return [row for part in parts_for(None, None) for row in session.execute(part)]
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    half = top // 2

    def fetch(stmts) -> list:
        with engine.connect() as conn:
            _tune(conn)
            return [row for stmt in stmts for row in conn.execute(stmt)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = pool.map(fetch, [parts_for(None, half), parts_for(half + 1, None)])
        return [row for rows in halves for row in rows]


def _counts(session: Session, periods: list[str], scope: list[int] | None
            ) -> list[dict[int, dict[str, tuple[int, int]]]]:
    """Per quarter of ``periods``: branch id → indicator → (numerator, denominator).

    Two GROUP BY queries per quarter (members by branch and flags, care occasions by
    branch); on a big SQLite ledger they run for each half of the member ids on two
    connections (`coverage._run_parts`)."""
    bounds = [_quarter(p)[1:] for p in periods]
    facts = [_meeting_facts(session, first, last) for first, last in bounds]
    history = [_changed_since(session, last) for _, last in bounds]
    # A quarter before the ledger's first member counts nobody: no query for it.
    live = [_existed(session, last) for _, last in bounds]

    def parts_for(lo, hi):
        out = []
        for i, (first, last) in enumerate(bounds):
            if not live[i]:
                continue
            _pop, flags = _flags(session, first, last, scope, lo, hi, facts[i], history[i])
            if not is_pg(session):
                # SQLite would flatten the flags into the GROUP BY and work out each of them
                # (the probes too) twice, for the sort key and for the row: a LIMIT keeps
                # them a co-routine, each member's flags worked out once.
                flags = select(flags).limit(-1).subquery("once")
            bits = sum((flags.c[name] * (1 << k) for k, name in enumerate(_BITS)),
                       literal(0)).label("bits")
            out.append(select(literal(f"m{i}"), flags.c.branch_id, bits, func.count())
                       .group_by(flags.c.branch_id, bits))
            out.append(_care_counts(first, last, scope, lo, hi, history[i], tag=f"c{i}"))
        return out

    result: list[dict[int, dict[str, list[int]]]] = [{} for _p in periods]
    for tag, branch, a, b in _run(session, parts_for):
        into = result[int(tag[1:])].setdefault(branch, {n: [0, 0] for n in INDICATORS})
        if tag[0] == "c":
            into["care"][0] += int(a or 0)
            into["care"][1] += int(b)
            continue
        for k, name in enumerate(_BITS):
            if int(a) >> k & 1:
                into[name[:name.rindex("_")]][1 if name.endswith("_in") else 0] += int(b)
    return [{b: {n: (v[0], v[1]) for n, v in fig.items()} for b, fig in quarter.items()}
            for quarter in result]


# --- the scorecard ------------------------------------------------------------------------------


def _percent(num: int, den: int) -> float | None:
    return round(100 * num / den, 1) if den else None


def _rows(names: dict[int, str], now: dict, before: dict, goal: dict[str, float]) -> list[dict]:
    def total(counts: dict) -> dict[str, tuple[int, int]]:
        return {n: (sum(c[n][0] for c in counts.values()), sum(c[n][1] for c in counts.values()))
                for n in INDICATORS}

    keyed = [(names[b], now[b], before.get(b)) for b in sorted(now, key=lambda b: names[b])]
    keyed.append(("TOTAL", total(now), total(before) if before else None))
    rows = []
    for branch, figures, prev in keyed:
        for name in INDICATORS:
            num, den = figures[name]
            pct = _percent(num, den)
            old = _percent(*prev[name]) if prev else None
            rows.append({"branch": branch, "indicator": name, "numerator": num,
                         "denominator": den, "percent": pct, "goal": goal[name],
                         "status": rules.mark(num, den, goal[name]),
                         "change": round(pct - old, 1) if pct is not None and old is not None
                         else None})
    return rows


#: PostgreSQL's work_mem for the scorecard's transaction: each quarter hashes sets of up to
#: a member each (contacts, contributions, attendance counts). With the default 4 MB they
#: spill into batches, and a parallel hash join of the contacts (tasks × attempts) took
#: more than two minutes at a million members instead of one second.
PG_WORK_MEM = "64MB"


def _tune(session: Session | Connection) -> None:
    """PostgreSQL, this transaction only: no JIT (`coverage._tune_for_reports`), and
    `PG_WORK_MEM`."""
    from tasks.coverage import _tune_for_reports

    _tune_for_reports(session)
    if is_pg(session):
        session.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))


@requires(COUNTS)
def scorecard(session: Session, *, actor: Actor, period: str,
              branch_id: int | None = None) -> list[dict]:
    """The six indicators of a quarter (YYYY-Qn) per branch and a TOTAL row: one row per
    branch and indicator (`COLUMNS`), branches by name, TOTAL last. Counts only."""
    period = _quarter(period)[0]
    scope = _scope(session, branch_id)
    _tune(session)
    goal = rules.goals()
    now, before = _counts(session, [period, previous_quarter(period)], scope)
    names = dict(session.execute(select(Branch.id, Branch.name)).all())
    return _rows(names, now, before, goal)


@requires(COORDINATOR)
def scorecard_members(session: Session, *, actor: Actor, period: str,
                      branch_id: int | None = None, indicator: str) -> list[dict]:
    """The members behind a cell who do NOT meet the indicator (those counted in its
    denominator and not in its numerator), of ``branch_id`` and the branches nested in it
    (None: every branch). Coordinators only; ledger number, name and branch — no contact
    details. For ``care``: the members with an occasion of the quarter not visited."""
    if indicator not in INDICATORS:
        raise BadInput(_("there is no indicator {name}; indicators: {names}").format(
            name=repr(str(indicator)[:40]), names=", ".join(INDICATORS)))
    _period, first, last = _quarter(period)
    scope = _scope(session, branch_id)
    _tune(session)
    pop, flags = _flags(session, first, last, scope)
    if indicator == "care":
        ids = (select(CareOccasion.member_id).join(pop, pop.c.id == CareOccasion.member_id)
               .where(*_care(first, last),
                      CareOccasion.status != CareStatus.VISITED.value))
    else:
        ids = select(flags.c.member_id).where(flags.c[f"{indicator}_in"] == 1,
                                              flags.c[f"{indicator}_ok"] == 0)
    stmt = (select(Member.ledger_no, Member.name, Branch.name)
            .join(Branch, Branch.id == Member.branch_id).where(Member.id.in_(ids))
            .order_by(Branch.name, Member.ledger_no))
    return [{"ledger_no": no, "name": name, "branch": branch}
            for no, name, branch in session.execute(stmt)]


def scorecard_markdown(rows: list[dict], period: str) -> str:
    """The scorecard as a markdown table a coordinator reads at a glance: a row per branch,
    a column per indicator, each cell a coloured mark, the per cent and the change (branch
    names and figures only). In the current language (`tasks.labels`: the indicators'
    names; English: their codes, as before)."""
    goals = {r["indicator"]: r["goal"] for r in rows}
    head = ["## " + _("Six haves — {period}").format(period=period), "",
            "| " + _("branch") + " | "
            + " | ".join(_("{indicator} (goal {goal}%)").format(
                indicator=label(n, of="indicator"), goal=goals.get(n, ""))
                for n in INDICATORS) + " |",
            "|---" * (len(INDICATORS) + 1) + "|"]
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        pct = "–" if r["percent"] is None else f"{r['percent']:.1f}%"
        change = "" if r["change"] is None else f" ({r['change']:+.1f})"
        cells.setdefault(r["branch"], {})[r["indicator"]] = (
            f"{MARKS[r['status']]} {pct} {r['numerator']}/{r['denominator']}{change}")
    total = "**" + _("TOTAL") + "**"
    body = ["| " + " | ".join([(total if b == "TOTAL" else b.replace("|", "/"))]
                              + [c.get(n, "") for n in INDICATORS]) + " |"
            for b, c in cells.items()]
    legend = ["", _("🟢 at or above the goal · 🟡 within {points} points below · 🔴 further "
                    "below · ⚪ nothing to count · (change from the previous quarter, in "
                    "points)").format(points=rules.AMBER_POINTS)]
    return "\n".join(head + body + legend)


def red_cells(rows: list[dict]) -> list[dict[str, Any]]:
    """The red cells (branch, indicator, figures), for events."""
    return [r for r in rows if r["status"] == "red"]
