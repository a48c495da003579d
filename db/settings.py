"""Where the ledger lives (``OUTREACH_HOME``, ``OUTREACH_DATABASE_URL``) and the
organisation's time zone (``OUTREACH_TIMEZONE``)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Mapping

#: The organisation's time zone when ``OUTREACH_TIMEZONE`` is not set: Beijing time when
#: outreach speaks Chinese, else the zone the schedules were first written for.
DEFAULT_TIMEZONE = "America/New_York"
CHINESE_TIMEZONE = "Asia/Shanghai"


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


#: The local service's address (`outreach serve`'s defaults).
LOCAL_SERVICE = "http://127.0.0.1:8765"


def public_url() -> str:
    """The ledger service's address as people outside reach it (``OUTREACH_PUBLIC_URL``,
    e.g. https://outreach.example.org), else the local service's: members' links start
    with it."""
    url = (os.environ.get("OUTREACH_PUBLIC_URL") or "").strip()
    return (url or LOCAL_SERVICE).rstrip("/")


def token_path() -> Path:
    return home() / "token"


def timezone(environ: Mapping[str, str] | None = None) -> str:
    """The organisation's time zone (an IANA name): ``OUTREACH_TIMEZONE``, else
    ``Asia/Shanghai`` when the language asked for is Chinese, else ``America/New_York``.
    The schedules of the deployments (`outreach stack up`) and the organisation's today
    (`today`) follow it. An unknown name is refused (BadInput)."""
    from outreach import i18n
    from outreach.db.errors import BadInput

    env = os.environ if environ is None else environ
    name = (env.get("OUTREACH_TIMEZONE") or "").strip()
    if not name:
        return CHINESE_TIMEZONE if i18n.wanted(env) == "zh_CN" else DEFAULT_TIMEZONE
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(i18n._("OUTREACH_TIMEZONE {name!r} is not a time zone (for example "
                              "Asia/Shanghai)").format(name=name)) from None
    return name


def today() -> dt.date:
    """Today in the organisation's time zone (`timezone`), whatever the machine's clock
    zone: a run at 07:00 in Beijing plans for the Beijing day."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone())).date()
