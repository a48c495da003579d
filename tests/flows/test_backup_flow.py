"""The daily ``backup`` deployment's flow (issue 24): a checked copy in the home's
backups folder, older copies pruned to 7 daily and 4 weekly, size and duration as an
artifact with no folder, phone or address in it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from outreach.db.session import make_engine
from outreach.seed.generate import seed_ledger
from tests.flows.test_flows import TODAY, artifacts, contact_strings

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[2]


def test_the_backup_deployment_is_daily_with_its_retention():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    d = next(d for d in config["deployments"] if d["name"] == "backup")
    assert d["entrypoint"] == "flows/backup.py:backup"
    assert d["parameters"] == {"keep_daily": 7, "keep_weekly": 4}
    (schedule,) = d["schedules"]
    assert schedule["timezone"] and schedule["cron"].endswith("* * *")  # every day


def test_the_flow_backs_up_prunes_and_reports_counts_only(db_url, prefect_harness):
    from outreach.flows.backup import backup

    eng = make_engine(db_url)
    seed_ledger(eng, members=60, volunteers=4, seed=5, today=TODAY)
    folder = Path(os.environ["OUTREACH_HOME"]) / "backups"
    folder.mkdir(parents=True)
    old = [f"outreach-202601{d:02d}-020000.db" for d in range(1, 11)]
    for name in old:
        (folder / name).write_text("an old copy")

    state = backup(return_state=True)
    assert state.is_completed()
    out = state.result()
    assert out["members"] == 60 and out["size"] > 0
    made = folder / out["file"]
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    # 7 days that have a copy (today's and the 6 newest old ones), plus the newest of
    # each of 4 weeks (January 4th, a Sunday, adds one): 8 kept, 3 removed.
    assert out["kept"] == 8 and out["removed"] == 3
    assert sorted(os.listdir(folder)) == sorted(
        [out["file"], "outreach-20260104-020000.db"] + old[4:])

    arts = artifacts(state.state_details.flow_run_id)
    text = " ".join(str(a.data) for a in arts if a.key == "backup")
    assert out["file"] in text and "duration" in text
    assert str(folder) not in text and os.environ["OUTREACH_HOME"] not in text
    for secret in contact_strings(eng):
        assert secret not in text
    eng.dispose()
