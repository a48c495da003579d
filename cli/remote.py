"""The volunteer commands as a client of the ledger service (`outreach serve`).

With ``OUTREACH_SERVER=https://host:port`` (or ``outreach login --server URL``, kept in
``$OUTREACH_HOME/server`` beside the code) the volunteer commands send their work to the
service and need no database: this module imports the standard library's ``http.client``
(when a request is made: the local path only asks `server`, and ``http.client`` with its
``ssl`` and ``email`` costs ~12 ms of a volunteer's start) and ``json`` and our pure modules (``db.errors``, ``db.settings``) — never SQLAlchemy, a
database driver or an HTTP library with a slow start.

The service answers errors as ``{"error": "<one line>", "exit_code": n}``: the CLI prints
the line and exits with the code, exactly as the same mistake would locally.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from outreach import i18n
from outreach.db import settings
from outreach.db.errors import BadInput, Conflict, NotFound, OutreachError, Refused
from outreach.i18n import _, pgettext

if TYPE_CHECKING:
    import http.client

#: Seconds to wait for an answer: a wrong code may wait 30 s on the service, a busy
#: database another 30 s.
TIMEOUT = 90.0


def server_path() -> Path:
    """Where `outreach login --server URL` keeps the service's address (0600)."""
    return settings.home() / "server"


def server() -> str | None:
    """The ledger service's address: ``OUTREACH_SERVER``, or the one `login` stored."""
    url = os.environ.get("OUTREACH_SERVER", "").strip()
    if url:
        return url
    path = server_path()
    if path.exists():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def check_url(url: str) -> str:
    """``http(s)://host[:port]`` (a path prefix is kept); refuses anything else."""
    url = url.strip().rstrip("/")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 — raises on a port that is no number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.username or parts.password or parts.query or parts.fragment:
        raise BadInput(_("the ledger service's address must look like https://host:port "
                         "(check OUTREACH_SERVER or `outreach login --server`)"))
    return url


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


#: HTTP status → the error class the CLI would have raised locally (exit code from the body).
_ERRORS = {400: BadInput, 422: BadInput, 404: NotFound, 401: Refused, 403: Refused,
           409: Conflict}


def _header_safe(code: str) -> str:
    """A code fit for a header: anything else is sent as a value the service refuses as
    'not an access code' (as `outreach` would locally), never as a broken request."""
    if code.isascii() and code.isprintable():
        return code
    return "?"


class Remote:
    """One ledger service, one caller (their access code)."""

    def __init__(self, url: str, code: str | None) -> None:
        self.url = check_url(url)
        parts = urllib.parse.urlsplit(self.url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.code = code

    def _connection(self) -> http.client.HTTPConnection:
        import http.client

        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT)
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def call(self, method: str, path: str, *, query: dict | None = None,
             body: dict | None = None, key: str | None = None):
        """One request; the decoded JSON answer, or the service's error raised as ours.
        ``key``: the write's Idempotency-Key (the service needs one on every write)."""
        target = self.prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(
                {k: ("true" if v is True else v) for k, v in query.items()
                 if v is not None and v is not False})
        # The service answers errors in the caller's language (zh_CN → zh-CN).
        headers = {"Accept": "application/json", "Connection": "close",
                   "Accept-Language": i18n.current().replace("_", "-")}
        if self.code:
            headers["Authorization"] = "Bearer " + _header_safe(self.code)
        if key is not None:
            headers["Idempotency-Key"] = _header_safe(key)
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        import http.client

        conn = self._connection()
        try:
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            raise OutreachError(_("cannot reach the ledger service at {url} (check "
                                  "OUTREACH_SERVER or `outreach login --server`)").format(
                                      url=self.url)) from None
        finally:
            conn.close()
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            answer = None
        if 200 <= resp.status < 300:
            return answer
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            exc = _ERRORS.get(resp.status, OutreachError)(answer["error"].splitlines()[0]
                                                          if answer["error"]
                                                          else pgettext("service", "refused"))
            if answer.get("exit_code") in (1, 2):
                exc.exit_code = answer["exit_code"]
            raise exc
        raise OutreachError(_("the ledger service at {url} answered {status}; nothing more "
                              "was written").format(url=self.url, status=resp.status))

    # --- what the volunteer commands ask ---------------------------------------------------

    def whoami(self) -> dict:
        return self.call("GET", "/me")

    def tasks(self, **filters) -> list[dict]:
        return self.call("GET", "/tasks", query=filters)

    def task_view(self, task_id: int) -> dict:
        return self.call("GET", f"/tasks/{task_id}")

    def record_or_ask(self, task_id: int, outcome: str | None, note, answers, day,
                      key: str) -> dict:
        return self.call("POST", f"/tasks/{task_id}/outcomes", key=key,
                         body=outcome_body(outcome, note, answers, day, ask=True))

    def record(self, task_id: int, outcome: str, note, answers, day, key: str) -> dict:
        return self.call("POST", f"/tasks/{task_id}/outcomes", key=key,
                         body=outcome_body(outcome, note, answers, day))["recorded"]

    def release(self, task_id: int, key: str) -> None:
        self.call("POST", f"/tasks/{task_id}/release", key=key)

    def member_link(self, ref: str, *, days: int | None, revoke: bool, key: str) -> dict:
        path = f"/members/{urllib.parse.quote(ref, safe='')}/links"
        if revoke:
            return self.call("POST", path + "/revoke", key=key)
        return self.call("POST", path, key=key, body={"days": days})


def outcome_body(outcome: str | None, note, answers, day, *, ask: bool = False) -> dict:
    """What ``POST /tasks/{id}/outcomes`` is sent (and, on a local ledger, what an
    Idempotency-Key is bound to)."""
    return {"outcome": outcome, "note": note, "answers": answers,
            "today": day.isoformat() if day else None, "ask": ask}


def new_key() -> str:
    """A fresh Idempotency-Key: one per command, so that a command's own resend is done
    once (``--idempotency-key`` repeats an earlier command's)."""
    return os.urandom(16).hex()
