"""Prefect flows: they compose the steps in `tasks/` and add retries, artifacts, events.

Prefect reads its settings at import, so the telemetry switches are set here, before any
flow module imports it: outreach runs offline and quiet.
"""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
