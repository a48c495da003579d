"""Where CLI-started flow runs go (issue 11, defect 15): to the running stack of this
ledger when its server answers; otherwise to Prefect's temporary server, with a start-up
time a busy machine meets and a failure that is one line. Fast: a tiny HTTP server stands
in for the stack's, and the temporary server is given no time at all."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from outreach.cli import deployments, stack

OUTREACH = str(Path(sys.executable).parent / "outreach")


@pytest.fixture
def fake_server():
    """Answers ``GET /api/health`` with ``true``, like a Prefect server."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _record(home: Path, url: str, ledger: str) -> None:
    st = stack.Stack(port=int(url.rsplit(":", 1)[1]), url=url, home=str(home / "stack"),
                     ledger=ledger, procs=[stack.Proc("server", 1, 0, ["prefect"], "x")])
    stack.save(st)


def test_runs_go_to_the_running_stack_of_this_ledger_only(tmp_path, monkeypatch,
                                                          fake_server):
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    ledger = f"sqlite:///{tmp_path / 'outreach.db'}"
    monkeypatch.setenv("OUTREACH_DATABASE_URL", ledger)
    assert deployments.running_stack() is None                    # no stack.json
    _record(tmp_path, fake_server, ledger)
    assert deployments.running_stack() is None                    # no auth string
    stack.ensure_auth()
    found = deployments.running_stack()
    assert found is not None and found.api_url == f"{fake_server}/api"
    _record(tmp_path, fake_server, "sqlite:////elsewhere/outreach.db")
    assert deployments.running_stack() is None                    # another ledger's stack
    _record(tmp_path, "http://127.0.0.1:9", ledger)
    assert deployments.running_stack() is None                    # its server is gone


def test_the_temporary_server_gets_time_and_its_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    deployments.quiet_prefect()
    assert int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 120
    # A server that cannot start in its time (here: none at all) is one line, exit 1.
    from outreach.db import migrate
    from outreach.db.session import make_engine

    from outreach.db.models import Role
    from outreach.db.session import session_scope
    from outreach.tasks.access.permissions import format_code
    from tests.db import factories as f

    url = f"sqlite:///{tmp_path / 'outreach.db'}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    with session_scope(eng) as s:
        vol, secret = f.volunteer(s, role=Role.COORDINATOR, with_secret=True)
        code = format_code(vol.id, secret)
    eng.dispose()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DO_NOT_TRACK": "1",
           "OUTREACH_HOME": str(tmp_path), "OUTREACH_DATABASE_URL": url, "OUTREACH_TOKEN": code,
           "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}
    r = subprocess.run([OUTREACH, "follow-up"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "outreach: Prefect's temporary server did not start in 0 s (a busy machine?); "
        "nothing was run: try again, or start the stack once (`outreach stack up`) and "
        "runs go to it")
    assert "Traceback" not in r.stderr + r.stdout and r.stdout == ""


def test_the_unresponsive_run_automation_is_one_prefect_accepts():
    """Validated by Prefect's own model of an automation (the server validates the same)."""
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    auto = AutomationCore.model_validate(stack.unresponsive_automation())
    assert isinstance(auto.trigger, EventTrigger) and auto.trigger.posture == Posture.Proactive
    assert auto.trigger.within.total_seconds() == 3 * stack.HEARTBEAT_S
    assert auto.actions[0].type == "change-flow-run-state"
    env = stack.environment(stack.Stack(port=1, url="u", home="/tmp", ledger="sqlite://"),
                            None, "a:b")
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(stack.HEARTBEAT_S)
