"""Domain errors. The CLI turns them into one line on stderr and an exit code."""

from __future__ import annotations

from outreach.i18n import _


class OutreachError(Exception):
    """A mistake a person can make; the message is safe to show (no contact details)."""

    exit_code = 1


class Refused(OutreachError):
    """Not allowed: illegal transition, not yours, not a coordinator, a conflict (exit 1)."""

    exit_code = 1


class Conflict(Refused):
    """Someone else changed the same row first (optimistic locking)."""


class BadInput(OutreachError):
    """Wrong id, wrong code, malformed value or file (exit 2)."""

    exit_code = 2


class NotFound(BadInput):
    """No such member, task, volunteer or branch."""


class NotReady(OutreachError):
    """The database is missing or not upgraded."""

    exit_code = 1


def one_line(text: object, limit: int = 200) -> str:
    """Something typed (a file's path) for a message of one line: at most ``limit``
    characters, any that would not print (a newline, a tab) written as its escape. Chinese
    and every other printable character stay as they are."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[:limit])


def shown(value: str) -> str:
    """A value for an error message: quoted when it looks like a code someone typed
    (``abroad``, ``teleported``), otherwise withheld — a misaligned CSV row can put a
    phone number or an address in any column, and messages reach logs and artifacts."""
    import re

    value = value.strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z_\-]{0,29}", value):
        return repr(value)
    return _("that value")
