"""What the flows share: the engine, artifacts and events — ids and counts only; the
forms' fields in the deploying process's language.

Nothing here ever logs or publishes a phone number, an address or a family contact:
artifacts are built from the count-only summaries in `tasks/`.

Language. Artifacts are written in the language of the process that runs the flow (the
worker's ``OUTREACH_LANG``): markdown through ``_()``, table artifacts with their column
names and codes by `tasks.kernel.labels` (English: the keys and codes as they are). The forms
Prefect shows are fixed at ``prefect deploy``: it imports the flow and builds the
parameter schema from the signature (`prefect.utilities.callables.parameter_schema`),
where every field's title is the parameter's name and its help the docstring's
``Args:`` line, whatever ``Field(title=..., description=...)`` says; only the field's
``json_schema_extra`` is applied after them. `field` puts the title and help there when
the deploying process speaks another language than English, so a Chinese deploy shows a
Chinese form; an English one keeps the names and the docstrings, as before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event
from pydantic import Field
from sqlalchemy import Engine

from outreach.db import migrate, settings
from outreach.db.session import engine as _engine
from outreach.i18n import N_, _, current
from outreach.tasks.kernel import labels
#: The one escape of what a person typed before it reaches an artifact (a branch name, a
#: line naming a file's problem): `table` applies it to every text cell; a markdown
#: artifact's builder (here, in flows/, or in tasks/ — which cannot import flows/) to
#: each text a person typed that it writes in. See `tasks.kernel.labels.for_markdown`.
from outreach.tasks.kernel.labels import for_markdown as escape


def engine() -> Engine:
    eng = _engine()
    migrate.require_current(eng)
    return eng


def day(value: dt.date | None) -> dt.date:
    """The run's day: the one asked for, else today in the organisation's time zone."""
    return value or settings.today()


def field(title: str, description: str, **kwargs: Any) -> Any:
    """A form field (pydantic ``Field``) titled and explained in the current language:
    pass ``_("…")`` texts, evaluated at import, i.e. in the deploying process's
    language. See the module's doc for why the title goes into ``json_schema_extra``."""
    extra = {} if current() == "en" else {"title": title, "description": description}
    return Field(title=title, description=description, json_schema_extra=extra or None,
                 **kwargs)


def key(*parts: Any) -> str:
    """An artifact key: lowercase ASCII letters, digits and dashes only (Prefect refuses
    anything else). A part in another script (a Chinese branch name) becomes ``u`` and 8
    hex digits of its SHA-1, so that each branch keeps a key of its own."""
    import hashlib

    out = []
    for p in parts:
        if p in (None, ""):
            continue
        text = str(p)
        if not text.isascii():
            text = "u" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        out.append(text)
    raw = "-".join(out).lower()
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in raw).strip("-")


class Progress:
    """A progress artifact that moves while a flow works through its batches."""

    def __init__(self, artifact_key: str, total: int, what: str):
        self.total, self.done, self.what = max(total, 1), 0, what
        self.id = create_progress_artifact(0.0, key=artifact_key,
                                           description=self._text(0, total))

    def _text(self, done: int, total: int) -> str:
        return _("{what}: {done} of {total}").format(what=self.what, done=done, total=total)

    def step(self, n: int = 1) -> None:
        self.done += n
        pct = min(100.0, 100.0 * self.done / self.total)
        update_progress_artifact(self.id, pct, description=self._text(self.done, self.total))


#: Column names of the flows' own tables, besides `tasks.kernel.labels.HEADERS` (and
#: `tasks.kernel.labels.IN_CONTEXT`: ``invited``, ``due``).
HEADERS = {
    "note": N_("note"),
    "occasions": N_("occasions"),
    "rows": N_("rows"),
    "meeting_id": N_("meeting id"),
    "date": N_("date"),
    "notices": N_("notices"),
    "notices_assigned": N_("notices assigned"),
    "held": N_("held"),
    "members": N_("members"),
    "reached": N_("reached this period"),
    "unreachable": N_("unreachable"),
    "never_reached_3": N_("never reached in the last three runs"),
    "segment": N_("segment"),
    "tasks": N_("tasks"),
    "open": N_("open"),
    "done": N_("done"),
    "failed": N_("failed"),
    "success_rate": N_("success rate"),
    "capacity": N_("capacity"),
    "active": N_("active volunteer"),
    "success rate": N_("success rate"),
    "shard": N_("shard"),
    "branches": N_("branches"),
}
#: The coverage report's segments (a member's, `tasks.campaigns.coverage`), and its total row.
SEGMENTS = {"away": N_("living away"), "homebound": N_("homebound"), "local": N_("local"),
            "all": N_("all"), "TOTAL": N_("TOTAL")}
#: Yes / no columns of the flows' tables (the volunteers' workload: ``active``).
YES_NO = {"yes": N_("yes"), "no": N_("no")}


def shown(rows: list[dict], *, of: dict[str, str | None] | None = None) -> list[dict]:
    """Rows as a table artifact shows them: column names and codes in the current
    language (`tasks.kernel.labels.table`, then `HEADERS`); English: unchanged."""
    if labels.english():
        return [dict(r) for r in rows]
    rows = [{k: (_(SEGMENTS[v]) if k == "segment" and v in SEGMENTS else
                 _(YES_NO[v]) if k == "active" and v in YES_NO else v) for k, v in r.items()}
            for r in rows]
    return [{(_(HEADERS[k]) if k in HEADERS else k): v for k, v in r.items()}
            for r in labels.table(rows, of=of)]


def table(rows: list[dict], artifact_key: str, description: str, *,
          of: dict[str, str | None] | None = None) -> None:
    """A table artifact (see `shown`); an empty table says so in one row. Prefect renders
    each text cell as Markdown: every one is escaped (`escape`), numbers stay numbers."""
    create_table_artifact(table_rows(rows, of=of), key=artifact_key, description=description)


def table_rows(rows: list[dict], *, of: dict[str, str | None] | None = None) -> list[dict]:
    """The rows `table` gives Prefect: `shown`, every text cell escaped (`escape`)."""
    return [{k: escape(v) if isinstance(v, str) else v for k, v in r.items()}
            for r in shown(rows or [{"note": _("nothing to show")}], of=of)]


def markdown(text: str, artifact_key: str, description: str) -> None:
    """A markdown artifact: ``text`` is Markdown our code wrote, with whatever a person
    typed already escaped in it (`escape`)."""
    create_markdown_artifact(text, key=artifact_key, description=description)


def event(name: str, resource_id: str, **payload: Any) -> None:
    """A Prefect event (``outreach.*``) about one of our objects: ids and counts only."""
    emit_event(event=f"outreach.{name}", resource={"prefect.resource.id": resource_id},
               payload=payload)
