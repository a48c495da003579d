"""The names people read for codes (`tasks.kernel.labels`): every code has one, English shows the
codes as before, the machine formats never change."""

from __future__ import annotations

import pytest

from outreach.db import codes, machines
from outreach.i18n import _, language
from outreach.tasks.kernel import labels
from outreach.tasks.scorecard import rules as score_rules

#: Each domain of `labels.DOMAINS` and the codes it must name.
CODES = {
    "member_status": machines.MemberStatus,
    "task_status": machines.TaskStatus,
    "care_status": machines.CareStatus,
    "meeting_status": machines.MeetingStatus,
    "attendance": machines.AttendanceStatus,
    "task_kind": codes.CampaignKind,
    "outcome": codes.Outcome,
    "residence": codes.Residence,
    "role": codes.Role,
    "meeting_kind": codes.MeetingKind,
    "remote_option": codes.RemoteOption,
    "member_role": codes.MemberRole,
    "make_up_how": codes.MakeUpHow,
    "care_occasion": codes.CareOccasionKind,
    "life_event": codes.LifeEventKind,
    "contribution": codes.ContributionKind,
    "movement_kind": codes.MovementKind,
    "movement_source": codes.MovementSource,
    "branch_kind": codes.BranchKind,
}


@pytest.mark.parametrize("domain", sorted(CODES))
def test_every_code_has_a_name(domain):
    assert set(labels.DOMAINS[domain]) == {c.value for c in CODES[domain]}


def test_the_scorecard_s_indicators_and_marks_have_names():
    assert set(labels.INDICATOR) == set(score_rules.GOALS)
    assert set(labels.MARK) == set(score_rules.MARK_NAMES)


def test_english_shows_the_codes_and_the_keys_unchanged():
    with language("en"):
        assert labels.label("do_not_contact") == "do_not_contact"
        assert labels.label("committee", of="branch_kind") == "committee"
        assert labels.header("unassigned") == "unassigned"
        rows = [{"branch": "TOTAL", "status": "excused", "n": 3}]
        assert labels.table(rows) == rows


def test_chinese_names_codes_and_headers_and_leaves_the_rest():
    with language("zh_CN"):
        assert labels.label("open") == _("open (not assigned)") != "open"
        assert labels.label("a branch name") == "a branch name"
        assert labels.label(None) == ""
        # one code, two meanings: the place decides
        assert labels.label("committee", of="branch_kind") != labels.label("committee")
        row = labels.table([{"branch": "East", "status": "open", "kind": "survey",
                             "n": 3, "other": "open"}])[0]
        assert list(row) == [labels.header("branch"), labels.header("status"),
                             labels.header("kind"), "n", "other"]
        assert list(row.values())[0] == "East" and row["other"] == "open"
        assert list(row.values())[1] == labels.label("open") != "open"


def test_reasons_outreach_writes_are_read_in_the_language_and_typed_ones_as_stored():
    with language("en"):
        assert labels.reason("follow-up 2026-11-30: window closed") == \
            "follow-up 2026-11-30: window closed"
    with language("zh_CN"):
        assert labels.reason("assigned (continuity)") == _("assigned (same volunteer again)")
        assert labels.reason("follow-up 2026-11-30: 3 failed contacts in a row") == \
            _("follow-up {day}: {rest}").format(
                day="2026-11-30", rest=_("{n} failed contacts in a row").format(n="3"))
        assert labels.reason("ledger import (a.csv): member moved to another branch") == \
            _("{head}: member moved to another branch").format(
                head=_("ledger import ({source})").format(source="a.csv"))
        assert labels.reason("called the daughter") == "called the daughter"
        assert labels.reason(None) == ""


def test_a_word_with_two_meanings_is_named_in_its_context():
    """``due``: the meetings a cadence asks for (report meetings) vs a task's date (the run
    sheet); ``invited``: how many were invited vs the mark of one not yet marked."""
    from outreach.i18n import pgettext
    from outreach.tasks.work import runsheet

    with language("en"):
        assert labels.header("due") == "due" and runsheet.headings(["due"]) == ["due"]
    with language("zh_CN"):
        assert labels.header("due") == pgettext("meeting", "due")
        assert labels.header("invited") == pgettext("meeting", "invited")
        assert labels.label("invited", of="attendance") == _("invited")
        assert runsheet.headings(["due", "note"]) == [pgettext("task", "due"), _("note")]
