"""Permission lives with the work: every service function of `tasks/` that shows contact
details or changes the ledger checks its actor itself, so that no entry point — the CLI,
a flow, the ledger service, whatever comes next — can reach it around its check.

The tests WALK `tasks/` (every module, every public function defined there) instead of
listing functions by hand: a new function that touches the database without taking an
actor and declaring its rule (`tasks.access.permissions.requires`) fails
`test_every_function_that_touches_the_ledger_takes_an_actor` unless it is added, with its
reason, to `NO_ACTOR` below; a guarded function that lets the wrong actor through fails
`test_each_guarded_function_refuses_the_wrong_actor`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from outreach import tasks
from outreach.db.errors import Refused
from outreach.db.machines import TaskStatus as TS
from outreach.tasks.access import permissions as access
from outreach.tasks.access.permissions import SYSTEM
from tests.db import factories as f

#: First parameters that mean "this function reaches the database".
DB_PARAMS = {"session", "engine", "eng", "conn", "connection", "bind"}


def _walk() -> dict[str, object]:
    """Every public function defined in a module of `tasks/` (not imported into it), by
    its name under the namespace (``tasks.access.permissions.check`` is ``outreach.tasks.access.permissions.check``)."""
    found = {}
    for info in pkgutil.walk_packages(tasks.__path__, "outreach.tasks."):
        mod = importlib.import_module(info.name)
        for name, fn in vars(mod).items():
            if not name.startswith("_") and inspect.isfunction(fn) \
                    and fn.__module__ == mod.__name__:
                found[f"{short(mod.__name__)}.{name}"] = fn
    return found


def short(name: str) -> str:
    """A name without the namespace's prefix, as the lists below write it."""
    return name.removeprefix("outreach.")


FUNCTIONS = _walk()


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)  # follows functools.wraps to the original


def _touches_db(fn) -> bool:
    params = _params(fn)
    return bool(params) and params[0] in DB_PARAMS


#: The checks themselves: they take an actor to judge it.
CHECKS = {"tasks.access.permissions.check", "tasks.access.permissions.require_coordinator",
          "tasks.work.outcomes.require_holder"}

#: Public functions that reach the database WITHOUT an actor, and why that is safe. Each
#: entry is a decision: add one only with its reason.
NO_ACTOR = {
    # Building the actor: these take the code (or a run ticket) and are the only doors in.
    "tasks.access.permissions.authenticate": "checks a code; builds the actor",
    "tasks.access.permissions.settle": "writes the wrong-code counters of an authentication",
    "tasks.access.tickets.issue": "authenticates the coordinator's code it is given",
    "tasks.access.tickets.redeem": "builds the actor a one-run ticket stands for",
    "tasks.access.ticket_jobs.use": "redeem for a flow run (burns the ticket first)",
    "tasks.access.idempotency.purge": "deletes keys older than 30 days (no person, no contact)",
    "tasks.access.tickets.burn": "step of redeem / use (deletes the ticket it is given)",
    "tasks.access.tickets.judge": "step of redeem / use (builds the actor, stamp checked)",
    "tasks.access.tickets.purge_expired": "deletes expired tickets (no person, no contact)",
    "tasks.access.permissions.acting_for": "builds the actor a burned ticket stands for (stamp checked)",
    "tasks.access.sessions.check": "builds the actor a phone's session cookie stands for",
    "tasks.access.sessions.purge_idle": "deletes sessions idle 30 days (no person, no contact)",
    "tasks.links.member_links.purge_keys": "deletes link keys older than 30 days (no person)",
    # Set-based system jobs (flows run them as the system; the CLI checks a coordinator
    # before it starts a flow). They own their transactions and show no contact details.
    "tasks.work.followup_jobs.fail_exhausted": "set-based system job",
    "tasks.work.followup_jobs.expire_closed": "set-based system job",
    "tasks.work.followup_jobs.mark_unreachable": "set-based system job",
    "tasks.work.followup_jobs.release_inactive": "set-based system job",
    "tasks.campaigns.plan_jobs.id_ranges": "set-based system job (ids only)",
    "tasks.campaigns.plan_jobs.plan_range": "set-based system job",
    "tasks.campaigns.plan_jobs.assign_open": "set-based system job",
    "tasks.campaigns.plan_jobs.plan_campaign": "set-based system job",
    "tasks.campaigns.plan_jobs.preview": "set-based system job (counts only)",
    "tasks.work.assign.write_picks": "step of planning and the task engine (ids only)",
    "tasks.work.assign.insert_tasks": "step of planning and the task engine (ids only)",
    "tasks.work.assign.volunteers_with_room": "step of planning and the task engine (ids, loads)",
    "tasks.campaigns.shard_jobs.split": "set-based system job (branch ids and counts only)",
    "tasks.campaigns.shard_jobs.plan_sharded": "set-based system job",
    "tasks.campaigns.shards.lock": "part of planning (advisory locks, no rows)",
    "tasks.work.engine.ensure_campaign": "part of planning (campaign rows, no person)",
    "tasks.campaigns.plan.open_run": "part of planning (campaign run rows, no person)",
    # Counts and ids only: no name, phone or address of a member leaves them.
    "tasks.ledger.audit.replay": "counts only (`outreach db check` needs no code)",
    "tasks.ledger.reports.ledger_summary": "counts per branch only",
    "tasks.campaigns.plan.summary": "counts per branch of one run",
    "tasks.campaigns.plan.run_and_campaign": "ids and settings of a run",
    "tasks.work.followup.retries_due": "a count",
    "tasks.work.followup.open_unassigned": "a count",
    "tasks.work.followup.reminders": "counts of overdue tasks per volunteer (no member)",
    "tasks.campaigns.coverage.branch_ids_under": "branch ids",
    "tasks.campaigns.coverage.last_runs": "run ids",
    "tasks.campaigns.coverage.run_parts": "runs a guarded report's queries (rows of counts)",
    "tasks.campaigns.coverage.tune_for_reports": "settings of the transaction (no rows)",
    "tasks.meetings.meetings.branch_named": "a branch by name (no person)",
    # The scorecard's facts: steps of the guarded scorecard / scorecard_members.
    "tasks.scorecard.facts.branch_counts": "step of the guarded scorecard (counts only)",
    "tasks.scorecard.facts.changed_since": "step of the guarded scorecard (a yes/no)",
    "tasks.scorecard.facts.member_facts": "step of the guarded scorecard (a subquery)",
    "tasks.scorecard.facts.quarter_facts": "step of the guarded scorecard (meeting ids, counts)",
    "tasks.scorecard.facts.tune": "settings of the transaction (no rows)",
    "tasks.ledger.tree.parents": "the branch tree (ids)",
    "tasks.ledger.tree.chains": "the branch tree (ids)",
    "tasks.ledger.tree.subtree_ids": "the branch tree (ids)",
    "tasks.ledger.tree.ancestors": "the branch tree (ids)",
    "tasks.ledger.tree.nearest_up": "the branch tree (ids)",
    "tasks.ledger.people.subtree_ids": "the branch tree (ids)",
    "tasks.access.permissions.coordinator_exists": "yes or no",
    "tasks.ledger.backup_jobs.counts": "counts of a copy being checked (members, tasks, attempts)",
    "tasks.ledger.people.active_coordinators": "a count",
    # Lookups and steps that guarded functions call after their own check; what they
    # return reaches a person only through a guarded function.
    "tasks.ledger.people.get_branch": "lookup for guarded functions (a branch, no contact)",
    "tasks.ledger.people.get_or_create_branch": "step of add_volunteer / import_ledger",
    "tasks.ledger.people.get_volunteer": "lookup (a volunteer row, no member contact)",
    "tasks.ledger.people.find_member": "lookup for guarded functions (they check the actor)",
    "tasks.work.outcomes.load_task": "lookup for guarded functions (they check the actor)",
    "tasks.ledger.people.coordinator_for": "lookup (a volunteer id)",
    "tasks.work.outcomes.escalation_run": "step of record_outcome / mark_unreachable",
    "tasks.work.outcomes.escalate": "step of record_outcome / mark_unreachable",
    # The task engine for meetings: steps of the coordinator's guarded meeting functions
    # (`tasks.meetings.meetings` plan / close), ids and counts only.
    "tasks.work.engine.meeting_run": "step of guarded meeting functions (a run row, no person)",
    "tasks.work.engine.give_tasks": "step of guarded meeting functions (counts only)",
    "tasks.ledger.reports.roles_of": "lookup for member_card (guarded; roles, no contact)",
    # Care (issue 13): set-based planning steps the daily care flow runs as the system
    # (`outreach care plan` checks a coordinator first); ids and counts only.
    "tasks.care.care_jobs.close_occasions": "set-based system job",
    "tasks.care.care_jobs.plan_occasions": "set-based system job",
    "tasks.care.care_jobs.give_visits": "set-based system job",
    "tasks.care.care_jobs.plan_transfers": "set-based system job",
    "tasks.care.care_jobs.plan_care": "set-based system job",
    "tasks.care.care.plan_birthdays": "step of the care jobs (counts only)",
    "tasks.care.care.plan_festivals": "step of the care jobs (counts only)",
    "tasks.care.care.plan_hardship": "step of the care jobs (counts only)",
    "tasks.care.care.plan_hardship_of": "step of mark_hardship (guarded; a count)",
    "tasks.care.care.close_occasions": "step of the care jobs (counts only)",
    "tasks.care.care.care_run": "step of give_visits (a run row, no person)",
    "tasks.care.care.give_visits": "step of the care jobs and record_event (counts only)",
    "tasks.care.care.plan_transfers": "step of the care jobs (a count)",
    "tasks.ledger.reports.contributions_of": "lookup for member_card (guarded; no contact)",
    # Movements: steps of the guarded record_outcome / import_ledger / confirm.
    "tasks.ledger.movements.record_movement": "step of guarded functions (writes one row)",
    "tasks.ledger.movements.record_movements": "step of guarded functions (one insert)",
    "tasks.work.outcomes.write_answers": "step of record_outcome (guarded) and of the "
                                         "member's own link (a Grant)",
    # The member's own link (issue 26): no person with a code acts; the token is the
    # authority. `open_link` checks it and builds the Grant (one member, ids only; it passes
    # no access rule); the others take that Grant and touch that member only.
    "tasks.links.member_links.open_link": "checks a link's token; builds the member's Grant",
    "tasks.links.member_links.member_page": "the Grant's own member only, masked (no actor)",
    "tasks.links.member_links.report_details": "the Grant's own member only",
    "tasks.links.member_links.answer_notice": "the Grant's own member's invitation only",
    "tasks.links.member_links.confirm_study": "the Grant's own member's attendance only",
}


def test_every_function_that_touches_the_ledger_takes_an_actor():
    """A public function of `tasks/` that reaches the database takes an actor and declares
    its rule — or is in NO_ACTOR with a reason. Nothing in NO_ACTOR is stale."""
    unguarded = sorted(name for name, fn in FUNCTIONS.items()
                       if _touches_db(fn) and "actor" not in _params(fn)
                       and name not in NO_ACTOR)
    assert unguarded == [], ("these reach the database without an actor: guard them with "
                             "tasks.access.permissions.requires, or add them to NO_ACTOR with a reason")
    stale = sorted(set(NO_ACTOR) - set(FUNCTIONS))
    assert stale == [], "NO_ACTOR names functions that no longer exist"
    takes_actor = {n for n, fn in FUNCTIONS.items() if "actor" in _params(fn)}
    assert not takes_actor & set(NO_ACTOR)


GUARDED = sorted(n for n, fn in FUNCTIONS.items() if "actor" in _params(fn) and n not in CHECKS)


#: Who may call what, written out by hand (an oracle independent of the decorators): a
#: rule loosened in the code — or a new guarded function — fails until it is agreed here.
EXPECTED = {
    # The phone pages' sessions (issue 26): one person's own.
    "tasks.access.sessions.start": access.PERSON,
    "tasks.access.sessions.touch": access.PERSON,
    "tasks.access.sessions.end": access.PERSON,
    "tasks.meetings.meetings.set_self_study": access.COORDINATOR,
    # A member's own link (issue 26): a coordinator for anyone, a volunteer for a member of
    # their own open tasks (the function narrows).
    "tasks.links.member_links.make_link": access.PERSON,
    "tasks.links.member_links.revoke_links": access.PERSON,
    "tasks.links.member_links.link_once": access.PERSON,  # make_link / revoke_links, once a key
    "tasks.links.member_links.task_link_once": access.HOLDER,  # link_once for the task's member
    "tasks.access.permissions.new_code": access.COORDINATOR,
    # Backups (issue 24): the copy is a file, never shown; the daily deployment runs as
    # the system. A restore replaces the ledger: a coordinator of the current one.
    "tasks.ledger.backup_jobs.back_up": access.COUNTS,
    "tasks.ledger.backup_jobs.may_restore": access.BOOTSTRAP,
    "tasks.campaigns.coverage.coverage": access.COUNTS,
    "tasks.campaigns.coverage.coverage_by_segment": access.COUNTS,
    "tasks.campaigns.coverage.volunteer_workload": access.COUNTS,
    "tasks.campaigns.coverage.unreachable_list": access.COORDINATOR,  # family contacts
    "tasks.campaigns.coverage.movements": access.COORDINATOR,  # members by name
    "tasks.ledger.book.import_ledger": access.COORDINATOR,
    "tasks.ledger.book.export_rows": access.COORDINATOR,
    "tasks.ledger.book.export_ledger": access.COORDINATOR,
    "tasks.ledger.book.export_ledger_xlsx": access.COORDINATOR,
    "tasks.work.outcomes.record_outcome": access.HOLDER,
    "tasks.work.outcomes.release": access.HOLDER,
    "tasks.work.outcomes.reassign": access.COORDINATOR,
    "tasks.work.outcomes.skip": access.COORDINATOR,
    "tasks.work.outcomes.confirm": access.COORDINATOR,
    "tasks.ledger.people.add_volunteer": access.BOOTSTRAP,
    "tasks.ledger.people.check_seed": access.BOOTSTRAP,
    "tasks.ledger.people.set_volunteer_active": access.COORDINATOR,
    "tasks.ledger.people.reactivate_member": access.COORDINATOR,
    "tasks.ledger.reports.volunteer_list": access.COORDINATOR,
    "tasks.ledger.reports.can_see_contacts": access.PERSON,
    "tasks.ledger.reports.member_card": access.PERSON,
    "tasks.work.results.apply_results": access.PERSON,  # each row: record_outcome's own check
    "tasks.work.worklist.list_tasks": access.PERSON,
    "tasks.work.worklist.task_view": access.HOLDER,
    "tasks.work.worklist.record_or_ask": access.HOLDER,
    "tasks.access.idempotency.once": access.PERSON,  # a key is one person's
    # Organisational life: coordinators plan, mark and close; the monthly flow (the
    # system) gives out missing make-up study and reads counts.
    "tasks.meetings.meetings.plan_meeting": access.COORDINATOR,
    "tasks.meetings.meetings.move_meeting_date": access.COORDINATOR,
    "tasks.meetings.meetings.cancel_meeting": access.COORDINATOR,
    "tasks.meetings.meetings.hold_meeting": access.COORDINATOR,
    "tasks.meetings.meetings.mark_attendance": access.COORDINATOR,
    "tasks.meetings.meetings.import_attendance": access.COORDINATOR,
    "tasks.meetings.meetings.close_meeting": access.COORDINATOR,
    "tasks.meetings.meetings.set_role": access.COORDINATOR,
    "tasks.meetings.meetings.list_meetings": access.COORDINATOR,
    "tasks.meetings.meetings.meeting_view": access.COORDINATOR,  # members by name
    "tasks.meetings.meetings.give_make_ups": access.COUNTS,
    "tasks.meetings.meetings.meetings_lacking_make_ups": access.COUNTS,
    "tasks.meetings.life.branches_behind": access.COUNTS,
    "tasks.meetings.life.members_without_life": access.COUNTS,  # names: a coordinator
    "tasks.meetings.life.meetings_report": access.COUNTS,
    # Care (issue 13): a volunteer records a life event of their own task's member (the
    # function narrows), a coordinator for anyone; coordinators mark hardship and
    # contributions; counts for a coordinator or the system.
    "tasks.care.care.record_event": access.PERSON,
    "tasks.care.care.mark_hardship": access.COORDINATOR,
    "tasks.care.care.clear_hardship": access.COORDINATOR,
    "tasks.care.care.add_contribution": access.COORDINATOR,
    "tasks.care.care.contributions_by_branch": access.COUNTS,
    "tasks.care.care.occasions_summary": access.COUNTS,
    "tasks.scorecard.scorecard.scorecard": access.COUNTS,
    "tasks.scorecard.scorecard.scorecard_members": access.COORDINATOR,  # members by name
    # Who saw what (issue 24): the log is written by the guarded functions that show
    # contact details, after their own check, for the person shown them (never the system:
    # no job is shown contact details); its report and the purge are a coordinator's.
    "tasks.ledger.access_log.note_shown": access.PERSON,
    "tasks.ledger.access_log.access_report": access.COORDINATOR,
    "tasks.ledger.access_log.purge_departed": access.COORDINATOR,
}


def test_every_function_that_takes_an_actor_declares_the_agreed_rule():
    undeclared = [n for n in GUARDED if getattr(FUNCTIONS[n], "__rule__", None) is None]
    assert undeclared == [], "these take an actor but no @requires rule checks it first"
    assert {n: FUNCTIONS[n].__rule__ for n in GUARDED} == EXPECTED
    assert {short(n): r for n, r in access.RULES.items() if short(n) in FUNCTIONS} == EXPECTED


@pytest.fixture
def world(session):
    """A branch with a coordinator, the task's volunteer and another volunteer; one member
    with one task assigned to the volunteer."""
    br = f.branch(session)
    coord = f.coordinator(session, branch_=br)
    holder = f.volunteer(session, branch_=br)
    other = f.volunteer(session, branch_=br)
    member = f.member(session, branch_=br, phone="555 0100", home_address="1 Main St")
    task = f.task(session, member_=member, status=TS.ASSIGNED, volunteer_=holder)
    return dict(s=session, coord=f.actor(session, coord), holder=f.actor(session, holder),
                other=f.actor(session, other), member=member, task=task, holder_row=holder)


#: Who must be refused, per rule.
WRONG = {
    access.COORDINATOR: ("holder", "system"),
    access.BOOTSTRAP: ("holder", "system", "nobody"),
    access.COUNTS: ("holder", "nobody"),
    access.HOLDER: ("other", "system", "nobody"),
    access.PERSON: ("system", "nobody"),
}
RIGHT = {access.COORDINATOR: "coord", access.BOOTSTRAP: "coord", access.COUNTS: "system",
         access.HOLDER: "holder", access.PERSON: "other"}


class Junk:
    """Stands for every argument the check does not need: if the function body ran before
    its check, it would trip over this (and not raise Refused)."""


def _arguments(fn, w, who) -> dict:
    args = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name == "session":
            args[name] = w["s"]
        elif name == "actor":
            args[name] = who
        elif name == "task_id":
            args[name] = w["task"].id
        elif name in ("member_ref", "ref"):
            args[name] = w["member"].ledger_no
        elif name == "member_id":
            args[name] = w["member"].id
        elif name == "volunteer":
            args[name] = w["holder_row"]
        elif p.default is inspect.Parameter.empty:
            args[name] = Junk()
    return args


@pytest.mark.parametrize("name", GUARDED)
def test_each_guarded_function_refuses_the_wrong_actor(world, name):
    fn = FUNCTIONS[name]
    rule = fn.__rule__
    actors = {"coord": world["coord"], "holder": world["holder"], "other": world["other"],
              "system": SYSTEM, "nobody": None}
    s = world["s"]
    for wrong in WRONG[rule]:
        with pytest.raises(Refused):
            fn(**_arguments(fn, world, actors[wrong]))
        assert not (s.new or s.dirty or s.deleted), f"{name} wrote for {wrong}"
    # … and the right one passes the same gate.
    access.check(rule, actors[RIGHT[rule]], session=s, task_id=world["task"].id)


def test_another_volunteer_sees_nothing_of_a_member_not_on_their_tasks(world):
    """PERSON functions narrow to the volunteer's own tasks themselves."""
    from outreach.tasks.ledger.reports import can_see_contacts, member_card
    from outreach.tasks.work.worklist import list_tasks

    s, m = world["s"], world["member"]
    assert can_see_contacts(s, actor=world["holder"], member_id=m.id)
    assert not can_see_contacts(s, actor=world["other"], member_id=m.id)
    with pytest.raises(Refused, match="not in your open tasks"):
        member_card(s, ref=m.ledger_no, actor=world["other"])
    assert list_tasks(s, actor=world["other"], contacts=True) == []
    with pytest.raises(Refused):
        list_tasks(s, actor=world["other"], all_=True)
    assert [r["id"] for r in list_tasks(s, actor=world["holder"])] == [world["task"].id]


def test_a_rule_is_checked_before_anything_else_runs(session):
    calls = []

    @access.requires(access.COORDINATOR)
    def probe(session, *, actor):
        calls.append(actor)

    try:
        with pytest.raises(Refused):
            probe(session, actor=SYSTEM)
        assert calls == []
        with pytest.raises(TypeError, match="takes no actor"):
            access.requires(access.COORDINATOR)(lambda session: None)
        with pytest.raises(ValueError, match="unknown access rule"):
            access.requires("anyone")
    finally:
        access.RULES.pop(f"{__name__}.{probe.__qualname__}", None)
