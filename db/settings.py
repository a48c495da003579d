"""Where the ledger lives: ``OUTREACH_HOME`` and ``OUTREACH_DATABASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The folder for the embedded database and the stored access code."""
    return Path(os.environ.get("OUTREACH_HOME") or Path.home() / ".outreach").expanduser()


def database_url() -> str:
    """``OUTREACH_DATABASE_URL``, or a SQLite file under ``OUTREACH_HOME``."""
    url = os.environ.get("OUTREACH_DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            # Plain postgresql:// means psycopg 3 here, the driver we ship.
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return f"sqlite:///{home() / 'outreach.db'}"


def token() -> str | None:
    """The caller's access code: ``OUTREACH_TOKEN`` or the file `outreach login` wrote."""
    code = os.environ.get("OUTREACH_TOKEN")
    if code:
        return code.strip()
    path = token_path()
    if path.exists():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def token_path() -> Path:
    return home() / "token"
