"""Looking for members' contact details where they must never be: Prefect's database, its
logs and artifacts, the stack's log files, a command's output.

The scan reads raw bytes — a SQLite file with its WAL, a log file, a `pg_dump` — so it
also finds what no API returns (a failed run's traceback, a parameter, a freed page).
Each detail is looked for as written, as JSON writes it (non-ASCII escaped) and, for
phone numbers, as its digits alone.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

CONTACT_COLUMNS = ("phone", "home_address", "current_address", "family_contact_name",
                   "family_contact_phone")
_DIGITS = re.compile(rb"(?<!\d)\d{7,15}(?!\d)")


@dataclass
class Details:
    """Every member's contact details, in the byte forms they could be written in."""

    texts: set[bytes] = field(default_factory=set)
    phone_digits: set[bytes] = field(default_factory=set)
    count: int = 0

    @classmethod
    def of(cls, engine: Engine) -> Details:
        out = cls()
        with engine.connect() as conn:
            for row in conn.execute(text(
                    f"SELECT {', '.join(CONTACT_COLUMNS)} FROM members")):
                for column, value in zip(CONTACT_COLUMNS, row, strict=True):
                    if not value or len(value) < 6:
                        continue
                    out.count += 1
                    out.texts.add(value.encode())
                    out.texts.add(json.dumps(value)[1:-1].encode())
                    if column.endswith("phone"):
                        digits = re.sub(r"\D", "", value)
                        if len(digits) >= 7:
                            out.phone_digits.add(digits.encode())
        return out

    def found_in(self, data: bytes) -> int:
        """How many distinct details ``data`` contains (0 is the only good answer)."""
        hits = sum(1 for t in self.texts if t in data)
        return hits + len(self.phone_digits & set(_DIGITS.findall(data)))


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists()
                  for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file())


def scan_files(details: Details, files: list[Path]) -> dict[str, int]:
    """Leaks per file (only files with at least one)."""
    leaks = {}
    for path in files:
        n = details.found_in(path.read_bytes())
        if n:
            leaks[str(path)] = n
    return leaks


def pg_dump(url: str) -> bytes:
    """A plain-text dump of a PostgreSQL database (every row of every table)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    args = ["pg_dump", "--data-only", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432),
            "-U", u.username or "postgres", u.database]
    return subprocess.run(args, check=True, capture_output=True, timeout=300).stdout
