"""Fail loudly (exit 1) when the PostgreSQL the suite needs is not reachable."""

import sys

from sqlalchemy import create_engine, text

url = sys.argv[1]
try:
    with create_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
except Exception as exc:  # any failure to connect means: not reachable
    print(f"PostgreSQL is not reachable at {url}: {exc.__class__.__name__}", file=sys.stderr)
    print("start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
          file=sys.stderr)
    sys.exit(1)
print(f"PostgreSQL reachable at {url}")
