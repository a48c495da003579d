"""`outreach stack`: its one-line refusals (fast), and the PostgreSQL scale-out variant —
both databases on PostgreSQL, two workers on one pool — brought up, used and stopped."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from outreach.cli import stack
from outreach.cli.main import app
from tests.e2e.conftest import TODAY, _reset_engines, free_port
from tests.e2e.test_ui import CADENCE, branch_to_plan, expected_members, planned_members
from tests.reliability.leaks import Details, files_under, pg_dump, scan_files

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
#: The two databases the test drops and makes (another pair with these variables).
PREFECT_DB = os.environ.get("OUTREACH_E2E_PREFECT_DB", "outreach_e2e_prefect")
LEDGER_DB = os.environ.get("OUTREACH_E2E_LEDGER_DB", "outreach_e2e")


def test_status_and_down_when_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    r = CliRunner().invoke(app, ["stack", "status"])
    assert r.exit_code == 0 and "not running" in r.output
    r = CliRunner().invoke(app, ["stack", "down"])
    assert r.exit_code == 0 and "not running" in r.output


def test_a_busy_port_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(app, ["stack", "up", "--port", str(port)])
    assert r.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_down_leaves_a_process_it_did_not_start_alone(tmp_path, monkeypatch):
    """A recorded pid that now runs something else (or started later) is not touched."""
    import subprocess
    import sys

    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = stack._stat(other.pid)[1]
        fake = stack.Stack(port=1, url="http://127.0.0.1:1", home=str(tmp_path), ledger="x",
                           procs=[stack.Proc("server", other.pid, started + 1,
                                             ["prefect", "server", "start"], "server.log")])
        stack.save(fake)
        assert stack.down() == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def _drop_databases() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for name in (PREFECT_DB, LEDGER_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _api(method: str, url: str, body: dict | None = None):
    headers = {"Content-Type": "application/json",
               "Authorization": stack.basic(stack.auth_string())}
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode()
                                 if body is not None else None, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.e2e
def test_postgres_stack_with_two_workers(tmp_path, monkeypatch):
    from outreach.db.session import make_engine
    from outreach.seed.generate import seed_ledger

    try:
        _drop_databases()
    except Exception as exc:  # noqa: BLE001 - the reason is shown
        pytest.fail(f"PostgreSQL at {PG_SERVER} is needed: {exc}")
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    monkeypatch.delenv("OUTREACH_DATABASE_URL", raising=False)
    _reset_engines()
    t0 = time.monotonic()
    up = stack.up(postgres=True, workers=2, port=free_port(), pg_server=PG_SERVER,
                  prefect_db=PREFECT_DB, ledger_db=LEDGER_DB, timeout=240,
                  service_port=free_port())
    eng = make_engine(up.ledger)
    try:
        assert up.ledger.startswith("postgresql+psycopg://") and up.ledger.endswith(LEDGER_DB)
        assert stack.online_workers(up.api_url) == 2
        # the automation that marks a flow run whose machine died Crashed, made once
        [auto] = _api("POST", f"{up.api_url}/automations/filter",
                      {"automations": {"name": {"any_": [stack.UNRESPONSIVE]}}})
        assert auto["enabled"] and auto["trigger"]["posture"] == "Proactive"
        assert auto["actions"][0]["state"] == "CRASHED"
        assert stack.ensure_unresponsive_automation(up.api_url) is False
        status = "\n".join(stack.status_lines())
        assert "worker-2" in status and "postgresql+asyncpg" in status
        seed_ledger(eng, members=3000, seed=5, today=TODAY)
        branch = branch_to_plan(eng)
        want = expected_members(eng, branch, TODAY)
        runs = {}
        for name, params in {
            "phone-visit/phone-visit": {"period": "2026-11", "branch": branch,
                                        "today": TODAY.isoformat(),
                                        "not_reached_within": CADENCE},
            "delivery/delivery": {"period": "2026-11", "today": TODAY.isoformat(),
                                  "material": "November booklet"},
        }.items():
            dep = _api("GET", f"{up.api_url}/deployments/name/{name}")
            run = _api("POST", f"{up.api_url}/deployments/{dep['id']}/create_flow_run",
                       {"parameters": params})
            runs[name] = run["id"]
        t_submit = time.monotonic()
        deadline = t_submit + 180
        while True:
            states = {n: _api("GET", f"{up.api_url}/flow_runs/{i}")["state"]["type"]
                      for n, i in runs.items()}
            if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in
                   states.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert states == dict.fromkeys(runs, "COMPLETED")
        assert set(planned_members(eng, "2026-11")) == want
        with eng.connect() as conn:
            kinds = dict(conn.execute(text(
                "SELECT kind, COUNT(*) FROM outreach_tasks GROUP BY kind")).all())
        assert kinds["phone_visit"] == len(want) and kinds["delivery"] > 0
        # Privacy: nothing of members' contact details in Prefect's PostgreSQL database
        # (logs, artifacts, parameters, states, events) or in the stack's log files.
        details = Details.of(eng)
        dump = pg_dump(up.ledger.rsplit("/", 1)[0] + f"/{PREFECT_DB}")
        assert b"COPY public.log " in dump and details.found_in(dump) == 0
        assert scan_files(details, files_under(Path(up.home))) == {}
        print(f"\nPG stack: {up.timings}, runs completed {time.monotonic() - t_submit:.1f} s "
              f"after submit, whole {time.monotonic() - t0:.1f} s")
    finally:
        eng.dispose()
        stack.down()
        _reset_engines()
    assert not any(stack.is_ours(p) for p in up.procs)
