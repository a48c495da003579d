"""What people read for the ledger's codes and columns: statuses, kinds, outcomes,
attendance marks, roles, the scorecard's indicators and marks, table headers.

Codes stay codes wherever a program reads them or a person types them: JSON and CSV
output, options such as ``--status open``, stored values, history reasons. Where a person
only reads — the ``table`` format, markdown reports, Prefect artifacts — `label` gives a
code's name in the current language (出席 for ``present``, 请假 for ``excused``) and
`header` a column's (支部 for ``branch``); `table` does both for a list of rows. In English
both give the code itself back, exactly as before: English readers know the codes they
type.

Every name is an ``N_()`` entry (extracted into the catalog, translated when shown, so a
test that switches the language in-process sees it). A code that means different things
in different places — ``committee``: a kind of branch (one that holds branches), a
meeting, a member's role — has one table per place (`label(code, of=...)`); without
``of`` a code gets its meaning in `LABELS` (the first table that has it, in `DOMAINS`
order: statuses, attendance, task kinds, outcomes, … so ``committee`` is the meeting).
Pure Python: imports no ORM, so the CLI's light paths may use it.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from outreach.i18n import N_, _, current, pgettext

MEMBER_STATUS = {
    "unverified": N_("unverified"),
    "active": N_("active"),
    "unreachable": N_("unreachable"),
    "moved_out": N_("moved out"),
    "deceased": N_("deceased"),
    "do_not_contact": N_("do not contact"),
}
TASK_STATUS = {
    "open": N_("open (not assigned)"),
    "assigned": N_("assigned"),
    "done": N_("done"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
}
CARE_STATUS = {
    "due": N_("due for a visit"),
    "visited": N_("visited"),
    "missed": N_("missed"),
    "cancelled": N_("cancelled"),
}
MEETING_STATUS = {
    "planned": N_("planned"),
    "held": N_("held"),
    "closed": N_("closed"),
    "cancelled": N_("cancelled"),
}
ATTENDANCE = {
    "invited": N_("invited"),
    "present": N_("present"),
    "remote": N_("remote"),
    "excused": N_("excused"),
    "absent": N_("absent"),
    "made_up": N_("made up"),
}
TASK_KIND = {
    "survey": N_("survey"),
    "phone_visit": N_("phone visit"),
    "delivery": N_("delivery"),
    "escalation": N_("escalation (call the family contact)"),
    "notice": N_("notice"),
    "make_up": N_("make-up study"),
    "care_visit": N_("care visit"),
    "transfer": N_("transfer of membership"),
}
OUTCOME = {
    "reached": N_("reached"),
    "delivered": N_("delivered"),
    "delivered_to_family": N_("delivered to the family"),
    "no_answer": N_("no answer"),
    "not_home": N_("not at home"),
    "left_message": N_("left a message"),
    "callback_requested": N_("asked to be called back"),
    "wrong_number": N_("wrong number"),
    "moved": N_("moved"),
    "refused": N_("refused"),
    "do_not_contact": N_("do not contact"),
    "deceased": N_("deceased"),
    "inaccessible": N_("could not get in"),
    "temporarily_away": N_("away for a while"),
    "visited": N_("visited"),
    "gift_delivered": N_("gift delivered"),
    "help_arranged": N_("help arranged"),
}
RESIDENCE = {
    "local": N_("local"),
    "away": N_("living away"),
}
ROLE = {
    "volunteer": N_("volunteer"),
    "coordinator": N_("coordinator"),
}
MEETING_KIND = {
    "assembly": N_("assembly"),
    "committee": N_("committee meeting"),
    "group": N_("group meeting"),
    "lecture": N_("lecture"),
    "theme_day": N_("theme day"),
}
REMOTE_OPTION = {
    "none": N_("no remote option"),
    "phone": N_("by phone"),
    "video": N_("by video"),
}
MEMBER_ROLE = {
    "secretary": N_("secretary"),
    "deputy": N_("deputy secretary"),
    "committee": N_("committee member"),
}
MAKE_UP_HOW = {
    "visit": N_("home visit"),
    "phone": N_("by phone"),
    "materials": N_("materials given"),
    "self_study": N_("self-study"),
}
CARE_OCCASION = {
    "birthday": N_("milestone birthday"),
    "double_ninth": N_("Double Ninth"),
    "spring_festival": N_("Spring Festival"),
    "life_event": N_("life event"),
    "hardship": N_("hardship"),
}
LIFE_EVENT = {
    "hospitalised": N_("in hospital"),
    "bereaved": N_("bereaved"),
    "hardship": N_("hardship"),
    "other": N_("other"),
}
CONTRIBUTION = {
    "teaching": N_("teaching"),
    "volunteering": N_("volunteering"),
    "mediation": N_("mediation"),
    "mentoring": N_("mentoring"),
    "other": N_("other"),
}
MOVEMENT_KIND = {
    "away": N_("living away"),
    "back": N_("back home"),
    "moved_out": N_("moved out"),
    "back_in": N_("back in"),
    "city": N_("to another city"),
}
MOVEMENT_SOURCE = {
    "outcome": N_("a task's outcome"),
    "survey": N_("survey"),
    "import": N_("ledger import"),
    "cli": N_("entered by a coordinator"),
    "system": N_("outreach itself"),
    "member_link": N_("the member's own link"),
}
#: The places a movement shows for a residence (`tasks.ledger.movements.LABEL`).
PLACE = {
    "local": N_("local"),
    "away": N_("living away"),
    "moved out": N_("moved out"),
}
BRANCH_KIND = {
    "geographic": N_("geographic branch"),
    "interest": N_("interest group"),
    "committee": N_("committee (holds branches)"),
}
#: The six haves (`tasks.scorecard.scorecard`), by indicator.
INDICATOR = {
    "movements": N_("movements recorded"),
    "contact": N_("contact bridge"),
    "education": N_("effective education"),
    "care": N_("channel for care"),
    "rights": N_("rights assured"),
    "role": N_("room for a role"),
}
#: A scorecard cell's mark (`tasks.scorecard.rules.mark`).
MARK = {
    "green": N_("at the goal"),
    "amber": N_("close to the goal"),
    "red": N_("below the goal"),
    "n/a": N_("nothing to count"),
}
#: Words that are not codes of one table: the total row, a final state, the "from" of
#: the history row written when a row is created (`db.machines.NEW`); every ``of=`` has
#: them too.
OTHER = {
    "TOTAL": N_("TOTAL"),
    "(final)": N_("(final)"),
    "new": N_("new (created)"),
}

DOMAINS: dict[str, Mapping[str, str]] = {
    "member_status": MEMBER_STATUS,
    "task_status": TASK_STATUS,
    "care_status": CARE_STATUS,
    "meeting_status": MEETING_STATUS,
    "attendance": ATTENDANCE,
    "task_kind": TASK_KIND,
    "outcome": OUTCOME,
    "residence": RESIDENCE,
    "role": ROLE,
    "meeting_kind": MEETING_KIND,
    "remote_option": REMOTE_OPTION,
    "member_role": MEMBER_ROLE,
    "make_up_how": MAKE_UP_HOW,
    "care_occasion": CARE_OCCASION,
    "life_event": LIFE_EVENT,
    "contribution": CONTRIBUTION,
    "movement_kind": MOVEMENT_KIND,
    "movement_source": MOVEMENT_SOURCE,
    "place": PLACE,
    "branch_kind": BRANCH_KIND,
    "indicator": INDICATOR,
    "mark": MARK,
    "other": OTHER,
}

#: Every code → its name, the first domain (in `DOMAINS` order) that has it winning.
LABELS: dict[str, str] = {}
for _table in DOMAINS.values():
    for _code, _name in _table.items():
        LABELS.setdefault(_code, _name)
del _table, _code, _name

#: Column names of tables and reports (keys stay English in JSON and CSV).
HEADERS = {
    "id": N_("id"),
    "branch": N_("branch"),
    "branch_id": N_("branch id"),
    "parent": N_("parent branch"),
    "kind": N_("kind"),
    "status": N_("status"),
    "reason": N_("reason"),
    "member": N_("member"),
    "member_id": N_("member id"),
    "ledger_no": N_("ledger number"),
    "name": N_("name"),
    "birth_date": N_("birth date"),
    "residence": N_("residence"),
    "homebound": N_("homebound"),
    "volunteer": N_("volunteer"),
    "volunteer_id": N_("volunteer id"),
    "role": N_("role"),
    "task_id": N_("task id"),
    "run_id": N_("run id"),
    "period": N_("period"),
    "outcome": N_("outcome"),
    "due_on": N_("due on"),
    "closes_on": N_("closes on"),
    "attempts": N_("attempts"),
    # planning (`tasks.campaigns.plan.summary`, `tasks.campaigns.plan_jobs.preview`, the run's counts)
    "targeted": N_("targeted"),
    "created": N_("created"),
    "assigned": N_("assigned"),
    "continuity": N_("same volunteer again"),
    "unassigned": N_("not assigned"),
    "busy": N_("busy elsewhere"),
    "planned": N_("already planned"),
    "ranges": N_("ranges"),
    "assigned_later": N_("assigned later"),
    "still_open": N_("still open"),
    # follow-up (`tasks.work.followup.reminders`)
    "overdue": N_("overdue"),
    "oldest_due": N_("oldest due date"),
    "days_late": N_("days late"),
    # the scorecard (`tasks.scorecard.scorecard.COLUMNS`)
    "indicator": N_("indicator"),
    "numerator": N_("numerator"),
    "denominator": N_("denominator"),
    "percent": N_("per cent"),
    "goal": N_("goal"),
    "change": N_("change"),
    # movements
    "happened_on": N_("date"),
    "from_place": N_("moved from"),
    "to_place": N_("moved to"),
    "source": N_("recorded from"),
    "recorded_by": N_("recorded by"),
}

#: The columns whose values are codes `table` shows by name, and where their names are.
CODE_COLUMNS: dict[str, str | None] = {
    "status": None, "kind": None, "outcome": "outcome", "residence": "residence",
    "role": None, "indicator": "indicator", "source": "movement_source",
    "from_place": "place", "to_place": "place", "branch": "other",
}


def english() -> bool:
    """Is the current language English (codes shown as they are)?"""
    return current() == "en"


def label(code, *, of: str | None = None) -> str:
    """The name of a code in the current language; the code itself in English, and for a
    code the table does not know (a branch name, a number)."""
    if code is None:
        return ""
    text = str(code)
    if english():
        return text
    table = DOMAINS[of] if of is not None else LABELS
    name = table.get(text) or OTHER.get(text)
    return text if name is None else _(name)


#: Columns whose short word means something else elsewhere, named with `pgettext` when
#: shown: the meeting report's ``due`` (meetings the cadence asks for, 应开; a task's
#: ``due`` is its date, `tasks.work.runsheet`) and ``invited`` (how many were invited, 应到;
#: the attendance mark ``invited`` is `ATTENDANCE`'s).
IN_CONTEXT = {
    "due": lambda: pgettext("meeting", "due"),
    "invited": lambda: pgettext("meeting", "invited"),
}


def header(key: str) -> str:
    """A column's name in the current language (the key itself in English)."""
    if key in IN_CONTEXT and not english():
        return IN_CONTEXT[key]()
    name = HEADERS.get(key)
    return key if name is None or english() else _(name)


#: The reasons outreach itself writes into the history (`tasks.campaigns.plan`, `tasks.work.followup_jobs`,
#: `tasks.ledger.book`, `tasks.ledger.people`). They are stored as written, in English (data, not
#: text for one reader); `reason` shows them in the current language.
REASONS = {
    "planned": N_("planned"),
    "assigned": N_("assigned"),
    "assigned (continuity)": N_("assigned (same volunteer again)"),
    "assigned (parent branch)": N_("assigned (volunteer of the parent branch)"),
    "attempts exhausted": N_("attempts used up"),
    "window closed": N_("time window closed"),
    "volunteer inactive": N_("volunteer no longer active"),
    "escalation to a coordinator": N_("escalation to a coordinator"),
}
#: Stored reasons with a value in them: (pattern, how it reads); the named groups fill
#: the placeholders, ``rest`` / ``head`` are reasons themselves (shown by `reason` too).
_REASON_PATTERNS = (
    (re.compile(r"follow-up (?P<day>\d{4}-\d{2}-\d{2}): (?P<rest>.+)", re.S),
     N_("follow-up {day}: {rest}")),
    (re.compile(r"(?P<n>\d+) failed contacts in a row"), N_("{n} failed contacts in a row")),
    (re.compile(r"(?P<head>.+): member moved to another branch", re.S),
     N_("{head}: member moved to another branch")),
    (re.compile(r"ledger import \((?P<source>.*)\)", re.S), N_("ledger import ({source})")),
    (re.compile(r"reactivated: (?P<text>.*)", re.S), N_("reactivated: {text}")),
)


def reason(text: str | None) -> str:
    """A history reason as people read it: the ones outreach writes (`REASONS`, and those
    with a date or a count in them) in the current language; what a person typed, and
    everything in English, as stored."""
    if not text or english():
        return text or ""
    if text in REASONS:
        return _(REASONS[text])
    for pattern, shown in _REASON_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            parts = m.groupdict()
            for key in ("rest", "head"):
                if key in parts:
                    parts[key] = reason(parts[key])
            return _(shown).format(**parts)
    return text


def table(rows: Iterable[Mapping], *, of: Mapping[str, str | None] | None = None
          ) -> list[dict]:
    """Rows for the ``table`` format and markdown: headers and code values in the current
    language (``of``: column → `DOMAINS` name, added to `CODE_COLUMNS`). English: the
    rows unchanged. Never for JSON or CSV (programs read those)."""
    rows = list(rows)
    if english():
        return [dict(r) for r in rows]
    columns = {**CODE_COLUMNS, **(of or {})}
    out = []
    for r in rows:
        out.append({header(k): (label(v, of=columns[k]) if k in columns and isinstance(v, str)
                                else v) for k, v in r.items()})
    return out


# --- what a person typed, where Markdown is rendered ------------------------------------------

#: Characters that mean something in Markdown anywhere in a line (emphasis, code, links,
#: images, tables, strikethrough, headings, escapes); ``<`` ``>`` ``&`` become entities.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~#!])")
#: What would start a list or a heading at the beginning of a text: its sign.
_LIST = re.compile(r"(\s*)(?:(\d+)([.)])|([-+=]))")


def for_markdown(text) -> str:
    """What a person typed (a branch name, a line naming a file's problem) as Markdown
    shows it literally, on one line: HTML becomes text, every Markdown sign is escaped,
    line breaks become spaces. The one escape for every Prefect artifact (its markdown
    and its table cells, which Prefect renders as Markdown too) and every markdown report;
    what our code writes around it is Markdown, what a person typed never is."""
    import html

    one = " ".join(str(text).splitlines())
    out = _MARKDOWN.sub(r"\\\1", html.escape(one, quote=False))
    m = _LIST.match(out)  # ``- x``, ``+ x``, ``1. x`` would be a list, ``= x`` a heading
    if m:
        sign = (m.group(2) + "\\" + m.group(3)) if m.group(2) else "\\" + m.group(4)
        out = m.group(1) + sign + out[m.end():]
    return out
