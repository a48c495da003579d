"""The scorecard's facts: who is counted in a quarter and what every indicator needs to
know about each member, read set-based in one pass over the members (`branch_counts`:
the figures per branch of one or more quarters; `member_facts` and `indicator_cells`: the
same facts joined per member and the same rules in SQL, for listing a cell's members).

How it is counted, and why so: see `tasks.scorecard.scorecard`. Reads only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from outreach.db.dialect import hashes_big_sets, no_index, sum_bits, tune_transaction
from outreach.db.machines import (
    CONTACTABLE_MEMBER,
    HELD_MEETING,
    TOOK_PART,
    AttendanceStatus,
    CareStatus,
    TaskStatus,
)
from outreach.db.models import (
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
from outreach.tasks.campaigns import coverage
from outreach.tasks.scorecard import rules as score_rules
from outreach.tasks.scorecard.judge import Quarter, judge, meetings_asked, packed
from outreach.tasks.work import rules as work_rules
from outreach.tasks.kernel import rules
from outreach.tasks.ledger import tree

INDICATORS = tuple(score_rules.GOALS)
CONTACTABLE = tuple(sorted(str(s) for s in CONTACTABLE_MEMBER))
SUCCESS = tuple(sorted(str(o) for o in work_rules.SUCCESSFUL_CONTACT))
MEMBER_KINDS = tuple(sorted(str(k) for k in work_rules.MEMBER_KINDS))
#: A completed delivery: the material reached the member (or their family).
DELIVERED = (Outcome.DELIVERED.value, Outcome.DELIVERED_TO_FAMILY.value)
EDUCATION_KINDS = (MeetingKind.LECTURE.value, MeetingKind.THEME_DAY.value)
RIGHTS_TOOK_PART = (AttendanceStatus.PRESENT.value, AttendanceStatus.REMOTE.value)
def quarter(period: str) -> tuple[str, dt.date, dt.date]:
    period = rules.check_quarter(period)
    first, last = rules.quarter_bounds(period, rules.FIRST_DAY)
    return period, first, last



#: PostgreSQL's work_mem for the scorecard's transaction: it hashes sets of up to a member
#: each (contributions, attendance counts). With the default 4 MB they spill into batches
#: (before the contact summary, a parallel hash join of the contacts, tasks × attempts,
#: took more than two minutes at a million members instead of one second).
PG_WORK_MEM = "64MB"


def tune(session: Session | Connection) -> None:
    """PostgreSQL, this transaction only: no JIT (`coverage.tune_for_reports`), and
    `PG_WORK_MEM`."""
    coverage.tune_for_reports(session)
    tune_transaction(session, work_mem=PG_WORK_MEM)



# --- who is counted, and the facts about each member -------------------------------------------


def _after(last: dt.date) -> dt.datetime:
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time())


def changed_since(session: Session, last: dt.date) -> bool:
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


def _status_then(last: dt.date, lo: int | None, hi: int | None, history: bool,
                 suffix: str = ""):
    """The outer joins and the condition that keep the members (``Member`` in the FROM)
    contactable on ``last``: their status then, from the history when ``history``
    (`changed_since`), else their status now. ``suffix`` tells apart the joins of
    several days in one query."""
    if not history:
        return [], Member.status.in_(CONTACTABLE)
    later = (select(MemberStatusChange.member_id,
                    func.min(MemberStatusChange.id).label("first_id"))
             .where(MemberStatusChange.at >= _after(last),
                    # "+ 0": read the history by its date (ix_member_status_changes_at),
                    # not a row look-up per entry of the member_id index
                    *_id_range(lo, hi)(MemberStatusChange.member_id + 0))
             .group_by(MemberStatusChange.member_id).subquery(f"later{suffix}"))
    first_change = MemberStatusChange.__table__.alias(f"first_change{suffix}")
    joins = [(later, later.c.member_id == Member.id),
             (first_change, first_change.c.id == later.c.first_id)]
    return joins, func.coalesce(first_change.c.from_status, Member.status).in_(CONTACTABLE)


def population(last: dt.date, scope: list[int] | None, lo: int | None = None,
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
    open-ended), for the halves of a big ledger (`branch_counts`)."""
    def conds(col) -> list:
        return ([col >= lo] if lo is not None else []) + ([col <= hi] if hi is not None else [])
    return conds


def quarter_facts(session: Session, first: dt.date, last: dt.date) -> Quarter:
    edu = _held(session, first, last, EDUCATION_KINDS)
    asm = _held(session, first, last, (MeetingKind.ASSEMBLY.value,))

    def hosts(held) -> dict[int, int]:
        out: dict[int, int] = {}
        for _m, b in held:
            out[b] = out.get(b, 0) + 1
        return out

    return Quarter(first, last, changed_since(session, last),
                    tuple(sorted(m for m, _b in edu)), tuple(sorted(m for m, _b in asm)),
                    hosts(edu), hosts(asm))


def _mark_names(qs: list[Quarter]) -> list[str]:
    return [f"{name}{i}" for i in range(len(qs)) for name in ("e", "a")]


def _marks(session: Session, qs: list[Quarter], lo: int | None, hi: int | None
           ) -> list[tuple[str, Any]]:
    """The marks that count, for the members of ids ``lo`` … ``hi``: (column, a SELECT of
    member ids), a row per mark — column ``e<i>`` for each lecture or theme day of quarter
    ``i`` a member was present at, remote or made up, ``a<i>`` for each of its assemblies
    they were present at or remote, or had a done notice task for. Empty when no quarter
    held a meeting.

    The meetings count for the members they invited (their branch and those nested in
    it, when they were planned): the attendance and notice rows are the invitations, so
    no branch test is made per row. (A member who moved to another branch within the
    quarter is counted on their old branch's meetings too.) A notice counts once per
    member and assembly, and not where the member took part already: a notice's
    (member, meeting) is kept only when no present/remote attendance row has it (one
    probe of ``ix_attendance_meeting_status``), and notices are read by their runs (the
    runs of the quarters' assemblies, few), not by scanning every done task."""
    ids = _id_range(lo, hi)
    took = [str(s) for s in TOOK_PART]
    parts: list[tuple[str, Any]] = []
    for i, q in enumerate(qs):
        if q.edu_ids:
            parts.append((f"e{i}", select(Attendance.member_id).where(
                Attendance.meeting_id.in_(q.edu_ids), Attendance.status.in_(took),
                *ids(Attendance.member_id))))
        if not q.asm_ids:
            continue
        parts.append((f"a{i}", select(Attendance.member_id).where(
            Attendance.meeting_id.in_(q.asm_ids), Attendance.status.in_(RIGHTS_TOOK_PART),
            *ids(Attendance.member_id))))
        runs = list(session.execute(select(CampaignRun.id).where(
            CampaignRun.meeting_id.in_(q.asm_ids))).scalars())
        if runs:
            seen = Attendance.__table__.alias(f"seen{i}")
            notified = (
                select(OutreachTask.member_id, CampaignRun.meeting_id)
                .join(CampaignRun, CampaignRun.id == OutreachTask.run_id)
                .where(OutreachTask.run_id.in_(runs),
                       OutreachTask.kind == CampaignKind.NOTICE.value,
                       no_index(session, OutreachTask.status) == TaskStatus.DONE.value,
                       *ids(OutreachTask.member_id),
                       ~exists(select(seen.c.id).where(
                           seen.c.meeting_id == CampaignRun.meeting_id,
                           seen.c.status.in_(RIGHTS_TOOK_PART),
                           seen.c.member_id == OutreachTask.member_id)))
                .distinct().subquery(f"notified{i}"))
            parts.append((f"a{i}", select(notified.c.member_id)))
    return parts


def _attendance_counts(session: Session, qs: list[Quarter], lo: int | None, hi: int | None):
    """Per member (ids ``lo`` … ``hi``) with a mark (`_marks`), ``e<i>`` and ``a<i>`` for
    every quarter ``i`` of ``qs``: how many marks of each column they have. ONE grouping
    of one stream of the marks, a subquery — or None when no quarter held a meeting."""
    parts = _marks(session, qs, lo, hi)
    if not parts:
        return None
    # each part tagged with its column (``slot``), so that the grouping compares an
    # integer, not a meeting id against lists of them
    names = _mark_names(qs)
    tagged = [stmt.add_columns(literal(names.index(name)).label("slot"))
              for name, stmt in parts]
    rows = (union_all(*tagged) if len(tagged) > 1 else tagged[0]).subquery("marks")
    held = {name for name, _stmt in parts}
    cols = [rows.c.member_id]
    for slot, name in enumerate(names):
        cols.append((func.sum(case((rows.c.slot == slot, 1), else_=0)) if name in held
                     else literal(0)).label(name))
    return select(*cols).group_by(rows.c.member_id).subquery("marked")


def quarter_key(day: dt.date) -> int:
    """A quarter as the contact summary writes it (`db.guards.quarter_key`): year × 4 +
    quarter − 1."""
    return day.year * 4 + (day.month - 1) // 3


def _summary_bits(session: Session, qs: list[Quarter], newest, before, found, day):
    """Bit ``i`` set when the member (``Member`` in the FROM) has a row of ``found`` (a
    SELECT whose first column is a member id, ``day`` its date) in quarter ``i``: an
    integer column, read from the member's summary — ``newest`` and ``before``, the two
    newest quarters with such a row, kept by the database (`db.guards.summary_statements`).

    A quarter that is one of the two has a row; one above the older of them, or any
    when there is no older one, has none. Only a quarter older than both (a scorecard of
    a quarter long past, for members contacted twice since) is looked up in the member's
    tasks and attempts, one correlated probe, inside the CASE so that no other member
    pays for it. (PostgreSQL: a scalar subquery with LIMIT, not an EXISTS, which it would
    turn into a hash of every member's rows — see `PG_WORK_MEM`.)"""
    col = found.selected_columns[0]
    word = literal(0)
    for i, q in enumerate(qs):
        key = quarter_key(q.first)
        rows = found.where(col == Member.id, day.between(q.first, q.last))
        if hashes_big_sets(session):
            probe = rows.with_only_columns(literal(1)).limit(1).scalar_subquery().is_not(None)
        else:
            probe = exists(rows)
        word = word + case((or_(newest == key, before == key), 1 << i),
                           (or_(before.is_(None), before <= key), 0),
                           (probe, 1 << i), else_=0)
    return word


def _member_part(session: Session, qs: list[Quarter], scope: list[int] | None,
                 lo: int | None = None, hi: int | None = None) -> _Members:
    """The members (ids ``lo`` … ``hi``) counted in any quarter of ``qs``, with their own
    facts (`member_facts`' columns but the contributions and the marks), and their
    contributions grouped by member (``member_id``, ``bits``)."""
    joins: list = []
    counted = []
    for i, q in enumerate(qs):
        more, cond = _status_then(q.last, lo, hi, q.history, suffix=str(i))
        joins += more
        counted.append(cond)
    same = all(not q.history for q in qs)
    away = Member.residence == Residence.AWAY.value
    home = Member.homebound.is_(True)

    # SQLite: kind || '', so that a member's tasks are read once from
    # ix_outreach_tasks_member_run (which carries the kind), not looked up once per kind
    kind = no_index(session, OutreachTask.kind)
    contacts = (select(OutreachTask.member_id)
                .join(Attempt, Attempt.task_id == OutreachTask.id)
                .where(kind.in_(MEMBER_KINDS), Attempt.outcome.in_(SUCCESS)))
    contacted = case((away, _summary_bits(session, qs, Member.contact_quarter,
                                          Member.contact_quarter_before, contacts,
                                          Attempt.recorded_on)), else_=0)
    if any(q.meetings for q in qs):
        # A delivered attempt closes its task as done (`tasks.work.rules.OUTCOMES`): no status test.
        deliveries = (select(OutreachTask.member_id)
                      .join(Attempt, Attempt.task_id == OutreachTask.id)
                      .where(OutreachTask.kind == CampaignKind.DELIVERY.value,
                             Attempt.outcome.in_(DELIVERED)))
        delivered = case((home, _summary_bits(session, qs, Member.delivery_quarter,
                                              Member.delivery_quarter_before, deliveries,
                                              Attempt.recorded_on)), else_=0)
    else:
        delivered = literal(0)
    # The contributions: one grouping (by member, read in order from
    # ix_contributions_member_on) for every quarter's year, outer-joined.
    years = [(q.year_from, q.last) for q in qs]
    contrib = (select(Contribution.member_id,
                      sum((func.max(case((Contribution.happened_on.between(a, b), 1 << i),
                                         else_=0)) for i, (a, b) in enumerate(years)),
                          literal(0)).label("bits"))
               .where(Contribution.happened_on.between(min(a for a, _b in years),
                                                       max(b for _a, b in years)),
                      *_id_range(lo, hi)(Contribution.member_id))
               .group_by(Contribution.member_id).subquery("contributed"))
    cols = [Member.id.label("member_id"), Member.branch_id, Member.residence, Member.homebound,
            Member.address_verified_on]
    for i, c in enumerate(counted):
        cols.append((literal(1) if same else case((c, 1), else_=0)).label(f"counted{i}"))
        cols.append(case((Member.address_verified_on.between(qs[i].year_from, qs[i].last), 1),
                         else_=0).label(f"verified{i}"))
    cols += [contacted.label("contacted"), delivered.label("delivered")]
    # (SQLite reads a half of the members as a range of the table's rows: measured
    # faster than the whole covering ix_members_coverage scanned for each half;
    # PostgreSQL as a range of ix_members_scorecard, revision 0011)
    where = [counted[0] if same else or_(*counted), *_id_range(lo, hi)(Member.id)]
    if scope is not None:
        where.append(Member.branch_id.in_(scope))
    return _Members(cols, joins, where, contrib)


@dataclass(frozen=True)
class _Members:
    """The members' part of the facts (`_member_part`): their own columns (``cols``, the
    first ``member_id``), the outer joins and conditions that read them, and the
    contributions grouped by member (``contrib``: ``member_id``, ``bits``)."""

    cols: list
    joins: list
    where: list
    contrib: Any

    def select(self, *cols):
        """A SELECT of ``cols`` from the members and their joins, with the conditions."""
        stmt = select(*cols).select_from(Member)
        for target, on in self.joins:
            stmt = stmt.outerjoin(target, on)
        return stmt.where(*self.where)


def member_facts(session: Session, qs: list[Quarter], scope: list[int] | None,
           lo: int | None = None, hi: int | None = None):
    """One row per member (ids ``lo`` … ``hi``) counted in any quarter of ``qs``, with the
    raw facts every indicator of every quarter is worked out from (`indicator_cells`): the
    members' own (`_member_part`) with their contributions and attendance counts
    (`_attendance_counts`) outer-joined. A subquery.

    Columns: ``member_id``, ``branch_id``, ``residence``, ``homebound``,
    ``address_verified_on``; ``counted<i>`` (contactable on quarter ``i``'s last day);
    ``contacted``, ``delivered``, ``contributed``: bit ``i`` for quarter ``i`` (a
    successful contact in it; a completed delivery in it, homebound members only; a
    contribution in the 365 days up to its last day); ``e<i>``, ``a<i>``."""
    part = _member_part(session, qs, scope, lo, hi)
    marked = _attendance_counts(session, qs, lo, hi)
    more = [func.coalesce(part.contrib.c.bits, 0).label("contributed")]
    more += [(func.coalesce(marked.c[name], 0) if marked is not None
              else literal(0)).label(name) for name in _mark_names(qs)]
    stmt = part.select(*part.cols, *more).outerjoin(
        part.contrib, part.contrib.c.member_id == Member.id)
    if marked is not None:
        stmt = stmt.outerjoin(marked, marked.c.member_id == Member.id)
    if not hashes_big_sets(session):
        # SQLite would flatten the facts into the query above them and work out each of
        # them (the probes too) once per use: a LIMIT keeps them a co-routine, each
        # member's facts worked out once.
        stmt = stmt.limit(-1)
    return stmt.subquery("facts")


# The bits of one packed column (`_Layout`): `db.dialect.sum_bits` (a half of 1M members
# on PostgreSQL: 1.8 s in 31-bit integer columns against 2.4–2.8 s in one bigint column).


@dataclass(frozen=True)
class _Layout:
    """Where each field of a member's packed facts lies in the integer columns of
    `_grouped`'s rows: name → (column, shift, width), the fields laid out in order, a new
    column where the next field would pass ``bits``. Every field's sum stays below 2 ** its
    width, so a column's sum is its fields side by side."""

    fields: dict[str, tuple[int, int, int]]
    columns: int
    bits: int

    @classmethod
    def of(cls, widths: list[tuple[str, int]], bits: int) -> _Layout:
        fields: dict[str, tuple[int, int, int]] = {}
        col = used = 0
        for name, width in widths:
            if used and used + width > bits:
                col, used = col + 1, 0
            fields[name] = (col, used, width)
            used += width
        return cls(fields, col + 1, bits)

    def row(self, **values) -> list:
        """The integer columns of a row whose fields ``values`` (each below 2 ** its
        width: a number or an SQL expression) are set, the others 0. Columns of 31 bits
        are cast to integer (PostgreSQL: a UNION's column takes the widest of its rows)."""
        terms: list[list] = [[] for _c in range(self.columns)]
        for name, value in values.items():
            col, shift, _width = self.fields[name]
            if isinstance(value, int):
                terms[col].append(literal(value << shift))
            else:
                terms[col].append(value * (1 << shift) if shift else value)
        cols = [sum(t[1:], t[0]) if t else literal(0) for t in terms]
        return [cast(c, Integer) for c in cols] if self.bits <= 31 else cols

    def reader(self, name: str):
        """A function reading field ``name`` of a row (its integer columns, in order)."""
        col, shift, width = self.fields[name]
        mask = (1 << width) - 1
        return lambda row: int(row[col]) >> shift & mask


def _layout(session: Session, qs: list[Quarter]) -> _Layout:
    """The fields of `_grouped`: ``here`` (the member's own row was there: counted), the
    member's ``word`` (`packed`), their count of each column of marks, bounded by the
    meetings it counts (a member has at most one attendance row per meeting, and a
    notice counts only for an assembly they took no part in), their care occasions of
    each quarter ``i`` (``o<i>``) and how many of those were visited (``v<i>``), bounded
    by the most occasions a member has in it, and their ``branch``."""
    marks = {name: len(ids) for i, q in enumerate(qs)
             for name, ids in ((f"e{i}", q.edu_ids), (f"a{i}", q.asm_ids))}
    care = {}
    for i, most in enumerate(_most_occasions(session, qs)):
        care[f"o{i}"] = care[f"v{i}"] = most
    top = session.scalar(select(func.max(Branch.id))) or 0
    return _Layout.of([("here", 1), ("word", 2 + 5 * len(qs)),
                       *[(name, n.bit_length()) for name, n in (marks | care).items()],
                       ("branch", max(top.bit_length(), 1))],
                      sum_bits(session))


def _most_occasions(session: Session, qs: list[Quarter]) -> list[int]:
    """Per quarter of ``qs``: the most care occasions of it (cancelled ones left out) that
    one member has — one grouping by member of the quarters' occasions."""
    if not qs:
        return []
    first, last = min(q.first for q in qs), max(q.last for q in qs)
    per = (select(*[func.sum(case((CareOccasion.occasion_on.between(q.first, q.last), 1),
                                  else_=0)).label(f"n{i}") for i, q in enumerate(qs)])
           .where(*care_in(first, last)).group_by(CareOccasion.member_id).subquery())
    return [int(n or 0) for n in session.execute(select(*map(func.max, per.c))).one()]


def _grouped(session: Session, qs: list[Quarter], layout: _Layout,
             scope: list[int] | None, lo: int | None, hi: int | None):
    """The members (ids ``lo`` … ``hi``) counted in any quarter of ``qs`` grouped by their
    branch, their facts (`packed`) and their count of each column of marks (`_marks`):
    a SELECT of those packed in ``layout``'s integer columns, and how many members.

    ONE grouping by member of one stream, then one by those: a row per counted member
    (its branch and word, `_member_part`), a row per member with contributions (their
    bits, placed in the word), a row per mark (a 1 in its field) and a row per care
    occasion of each quarter (a 1 in ``o<i>``, and in ``v<i>`` when visited); the fields
    of a member are the sums of their rows'. Grouping the marks and the contributions by
    member and joining them to the members (`member_facts`) costs more on SQLite: it sorts the
    marks, then builds an index on the result to look each member up. Here they are
    sorted once, with the members, as a few integers each: SQLite's grouping costs by
    the column (1M members, 1.6M rows: 1.3 s packed against 2.2 s in six columns)."""
    part = _member_part(session, qs, scope, lo, hi)
    n = len(qs)
    # the word of the member's own facts (the contributions added by their rows below)
    word = packed(SimpleNamespace(c=select(*part.cols, literal(0).label("contributed"))
                                   .selected_columns), n)
    parts = [part.select(Member.id, *layout.row(here=1, word=word, branch=Member.branch_id)),
             select(part.contrib.c.member_id,
                    *layout.row(word=part.contrib.c.bits * (4 << 2 * n)))]
    for name, stmt in _marks(session, qs, lo, hi):
        parts.append(stmt.add_columns(*layout.row(**{name: 1})))
    visited = case((CareOccasion.status == CareStatus.VISITED.value, 1), else_=0)
    for i, q in enumerate(qs):
        care = layout.row(**{f"o{i}": 1, f"v{i}": visited})
        parts.append(select(CareOccasion.member_id, *care).where(
            *care_in(q.first, q.last), *_id_range(lo, hi)(CareOccasion.member_id)))
    rows = union_all(*parts).subquery("stream")
    member_id, *cols = rows.c
    # counted: "here", the first field, bit 0 of the first column
    member = (select(*[func.sum(c).label(f"v{k}") for k, c in enumerate(cols)])
              .group_by(member_id).having(func.sum(cols[0]) % 2 == 1).subquery("facts"))
    return select(*member.c, func.count().label("members")).group_by(*member.c)


def care_in(first: dt.date, last: dt.date):
    """Care occasions of the quarter of counted members, cancelled ones left out."""
    # the other statuses listed (not "!= cancelled"): ranges of ix_care_occasions_status_on
    return (CareOccasion.occasion_on.between(first, last),
            CareOccasion.status.in_([s.value for s in CareStatus if s != CareStatus.CANCELLED]))


def _run(session: Session, parts_for) -> list:
    """The rows of every part query (``parts_for(lo, hi)``). SQLite: `coverage.run_parts`
    (each half of the member ids on its own connection on a big ledger). PostgreSQL, big
    ledger, not inside a wider transaction: the same halves on two connections, each tuned
    (`tune`) and running its half's queries one after the other — one backend per core,
    where a single query hashes and joins on one core."""
    from concurrent.futures import ThreadPoolExecutor

    if not hashes_big_sets(session):
        return coverage.run_parts(session, parts_for)
    top = None if session.in_nested_transaction() else session.scalar(select(func.max(Member.id)))
    if not top or top < coverage.PARALLEL_FROM:
        return [row for part in parts_for(None, None) for row in session.execute(part)]
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    half = top // 2

    def fetch(stmts) -> list:
        with engine.connect() as conn:
            tune(conn)
            return [row for stmt in stmts for row in conn.execute(stmt)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = pool.map(fetch, [parts_for(None, half), parts_for(half + 1, None)])
        return [row for rows in halves for row in rows]


def branch_counts(session: Session, periods: list[str], scope: list[int] | None
            ) -> list[dict[int, dict[str, tuple[int, int]]]]:
    """Per quarter of ``periods``: branch id → indicator → (numerator, denominator).

    One pass over the members for all the quarters (`_grouped`: each member read once
    with their contributions, marks and care occasions, grouped by branch, their facts
    packed (`packed`) and their counts; `judge` decides once per quarter, branch and
    what it reads); on a big ledger it runs for each half of the member ids on two
    connections (`_run`)."""
    bounds = [quarter(p)[1:] for p in periods]
    # A quarter before the ledger's first member counts nobody: no query for it.
    live = [i for i, (_f, last) in enumerate(bounds) if _existed(session, last)]
    qs = [quarter_facts(session, *bounds[i]) for i in live]
    chains = tree.chains(session) if any(q.meetings for q in qs) else {}
    asked = [(meetings_asked(q.edu_hosts, chains), meetings_asked(q.asm_hosts, chains)) for q in qs]
    layout = _layout(session, qs)

    def parts_for(lo, hi):
        if not qs:
            return []
        return [_grouped(session, qs, layout, scope, lo, hi)]

    # The groups' members, visits and occasions are summed per quarter, branch and what
    # `judge` reads, and each sum is judged once (the bench ledger, two quarters: 26,000
    # groups, 12,000 judgements), the fields read by readers made once.
    sums: dict[tuple, list[int]] = {}
    branch_of, word_of = layout.reader("branch"), layout.reader("word")
    quarters = [(j, *(layout.reader(f"{c}{j}") for c in "eavo"), *asked[j])
                for j in range(len(qs))]
    for row in _run(session, parts_for):
        members = int(row[-1])  # after the packed columns: how many members
        branch, word = branch_of(row), word_of(row)
        for j, edu, asm, visited, occasions, asked_edu, asked_asm in quarters:
            key = (j, branch, word, edu(row), asm(row), asked_edu.get(branch, 0),
                   asked_asm.get(branch, 0))
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = [0, 0, 0]
            acc[0] += members
            acc[1] += members * visited(row)
            acc[2] += members * occasions(row)

    result: list[dict[int, dict[str, list[int]]]] = [{} for _p in periods]
    for (j, branch, *judged_on), (members, visited_n, occasions_n) in sums.items():
        judged = judge(qs[j], j, len(qs), *judged_on)
        if judged is None:
            continue  # not counted in this quarter
        into = result[live[j]].setdefault(branch, {name: [0, 0] for name in INDICATORS})
        for name, (cell_in, cell_ok) in judged.items():
            into[name][1] += members if cell_in else 0
            into[name][0] += members if cell_ok else 0
        into["care"][0] += visited_n
        into["care"][1] += occasions_n
    return [{b: {name: (v[0], v[1]) for name, v in fig.items()} for b, fig in quarter.items()}
            for quarter in result]
