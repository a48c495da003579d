"""What the flows share: the engine, artifacts and events — ids and counts only.

Nothing here ever logs or publishes a phone number, an address or a family contact:
artifacts are built from the count-only summaries in `tasks/`.
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
from sqlalchemy import Engine

from db import migrate
from db.session import engine as _engine


def engine() -> Engine:
    eng = _engine()
    migrate.require_current(eng)
    return eng


def day(value: dt.date | None) -> dt.date:
    return value or dt.date.today()


def key(*parts: Any) -> str:
    """An artifact key: lowercase letters, digits and dashes only."""
    raw = "-".join(str(p) for p in parts if p not in (None, ""))
    return "".join(c if c.isalnum() else "-" for c in raw.lower()).strip("-")


class Progress:
    """A progress artifact that moves while a flow works through its batches."""

    def __init__(self, artifact_key: str, total: int, what: str):
        self.total, self.done, self.what = max(total, 1), 0, what
        self.id = create_progress_artifact(0.0, key=artifact_key,
                                           description=f"{what}: 0 of {total}")

    def step(self, n: int = 1) -> None:
        self.done += n
        pct = min(100.0, 100.0 * self.done / self.total)
        update_progress_artifact(self.id, pct,
                                 description=f"{self.what}: {self.done} of {self.total}")


def table(rows: list[dict], artifact_key: str, description: str) -> None:
    create_table_artifact(rows or [{"note": "nothing to show"}], key=artifact_key,
                          description=description)


def markdown(text: str, artifact_key: str, description: str) -> None:
    create_markdown_artifact(text, key=artifact_key, description=description)


def event(name: str, resource_id: str, **payload: Any) -> None:
    """A Prefect event (``outreach.*``) about one of our objects: ids and counts only."""
    emit_event(event=f"outreach.{name}", resource={"prefect.resource.id": resource_id},
               payload=payload)
