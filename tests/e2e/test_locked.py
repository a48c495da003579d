"""The locked stack (issue 10): the UI and the API refuse whoever lacks the auth string;
no process the stack started — nor a flow run a worker started — holds an access code;
a results import started from the UI is recorded by the coordinator whose run ticket was
given, and a wrong ticket is refused with nothing applied; a CLI-started run goes to the
running stack (issue 11, defect 15) and shows there.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from outreach.cli import stack as stack_mod
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e
OUTREACH = [str(Path(sys.executable).parent / "outreach")]


def status_of(url: str, method: str = "GET", auth: str | None = None,
              body: dict | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = stack_mod.basic(auth)
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_api_and_the_ui_refuse_without_the_auth_string(sqlite_stack, page, shots):
    st = sqlite_stack.stack
    auth = stack_mod.auth_string()
    assert auth.startswith("outreach:") and len(auth) > 30
    assert stat.S_IMODE(stack_mod.auth_path().stat().st_mode) == 0o600
    assert str(stack_mod.auth_path()) in "\n".join(stack_mod.status_lines())
    api = st.api_url
    for method, path, body in (("POST", "/deployments/filter", {}), ("GET", "/admin/version",
                                                                      None),
                               ("POST", "/flow_runs/filter", {})):
        assert status_of(api + path, method, None, body) == 401, path
        assert status_of(api + path, method, "outreach:wrong", body) == 401, path
        assert status_of(api + path, method, auth, body) == 200, path
    assert status_of(api + "/health") == 200  # monitoring needs no string

    page.goto(st.url + "/")
    box = page.get_by_placeholder("admin:pass")
    box.wait_for()
    assert page.get_by_role("link", name="Deployments").count() == 0
    box.fill("outreach:wrong")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Invalid credentials").wait_for()
    shots(page, "0-locked-ui")
    assert page.get_by_role("link", name="Deployments").count() == 0
    login(page, st.url, auth)


class EnvWatch:
    """Reads /proc/<pid>/environ of every process the stack started and of all their
    children, over and over while flow runs come and go."""

    def __init__(self, procs):
        self.roots = [p.pid for p in procs]
        self.seen: dict[tuple[int, str], bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for root in self.roots:
                for pid in [root] + stack_mod._descendants(root):
                    try:
                        env = Path(f"/proc/{pid}/environ").read_bytes()
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    except OSError:
                        continue
                    self.seen.setdefault((pid, cmd.decode(errors="replace")), env)
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cli(running, *args: str, token: str) -> subprocess.CompletedProcess:
    """`outreach …` as a coordinator at their own shell, next to the running stack."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "OUTREACH_TOKEN": token, **running.env}
    return subprocess.run([*OUTREACH, *args], env=env, capture_output=True, text=True,
                          timeout=300)


def attempts(eng) -> list[tuple[int, int, int]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT task_id, volunteer_id, recorded_by FROM attempts ORDER BY task_id"))]


def run_form(page, url: str, path: str, ticket: str) -> str:
    """Start record-outcomes from the UI's form; the terminal state the run page shows."""
    from tests.e2e.test_ui import open_custom_run

    open_custom_run(page, url, "record-outcomes")
    page.get_by_role("textbox", name="path", exact=True).fill(path)
    page.get_by_role("textbox", name="ticket", exact=True).fill(ticket)
    page.get_by_role("button", name="Submit").click()
    view = page.get_by_role("link", name="View run").last
    run_id = view.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]
    view.click()
    page.wait_for_url(re.compile(re.escape(run_id)))
    auth = stack_mod.auth_string()
    deadline = time.monotonic() + 150
    while True:  # the run's state from the API; the UI must show the same
        req = urllib.request.Request(f"{url}/api/flow_runs/{run_id}",
                                     headers={"Authorization": stack_mod.basic(auth)})
        with urllib.request.urlopen(req, timeout=20) as resp:
            state = json.loads(resp.read())["state"]["name"]
        if state in ("Completed", "Failed", "Crashed", "Cancelled"):
            break
        assert time.monotonic() < deadline, f"the run did not end in 150 s ({state})"
        time.sleep(1)
    page.get_by_role("main").get_by_text(state, exact=True).first.wait_for()
    return state


def test_results_from_the_ui_are_recorded_by_the_tickets_coordinator(sqlite_stack, page,
                                                                      shots, tmp_path):
    st, eng = sqlite_stack
    caller, other = sorted(sqlite_stack.codes)[0], sorted(sqlite_stack.codes)[1]
    codes = list(sqlite_stack.codes.values())
    with EnvWatch(st.procs) as watch:
        # A campaign started from the CLI goes to the running stack (and shows there).
        r = cli(sqlite_stack, "campaign", "run", "delivery", "--period", "2026-11",
                "--material", "Booklet", token=codes[0])
        assert r.returncode == 0, r.stderr
        assert "ran on the stack: " + st.url in r.stderr
        run_id = re.search(r"flow-run/([0-9a-f-]{36})", r.stderr).group(1)
        assert status_of(f"{st.api_url}/flow_runs/{run_id}", auth=stack_mod.auth_string()) \
            == 200
        with eng.connect() as conn:
            tasks = conn.execute(text(
                "SELECT id, volunteer_id FROM outreach_tasks WHERE kind = 'delivery' "
                "AND status = 'assigned' ORDER BY id LIMIT 3")).all()
        assert len(tasks) == 3
        results = tmp_path / "results.csv"
        results.write_text("task_id,outcome,note,answers\n" +
                           "".join(f"{t},delivered,,\n" for t, _ in tasks))
        before = attempts(eng)

        # A wrong ticket: the run fails and nothing is applied.
        assert run_form(page, st.url, str(results), "ticket-1-" + "0" * 32) == "Failed"
        assert attempts(eng) == before

        # The second coordinator's ticket: every row is recorded by them.
        r = cli(sqlite_stack, "outcomes", "ticket", token=sqlite_stack.codes[other])
        assert r.returncode == 0, r.stderr
        ticket = r.stdout.strip()
        assert run_form(page, st.url, str(results), ticket) == "Completed"
        shots(page, "4-results-import")
        got = attempts(eng)
        assert got == sorted(before + [(t, v, other) for t, v in tasks])
        assert other != caller
        # The same file from the CLI goes to the stack too, with a ticket of its own.
        r = cli(sqlite_stack, "outcomes", "import", str(results), token=codes[0])
        assert r.returncode == 0 and "0 applied, 3 already applied" in r.stdout, r.stderr
        assert "ran on the stack: " in r.stderr and attempts(eng) == got

    # No process the stack started, nor any child (flow runs included), holds a code.
    assert len(watch.seen) > len(st.procs), "the flow runs' processes were seen"
    flow_runs = [cmd for _, cmd in watch.seen if "prefect.engine" in cmd or "flow" in cmd]
    assert flow_runs, sorted(cmd for _, cmd in watch.seen)
    for (pid, cmd), env in watch.seen.items():
        assert b"OUTREACH_TOKEN" not in env, cmd
        for code in codes:
            assert code.encode() not in env and code.split("-", 1)[1].encode() not in env, cmd
        assert ticket.encode() not in env, cmd
    # Prefect's database holds the used ticket, never a code.
    raw = b"".join(p.read_bytes() for p in Path(st.home, "prefect").glob("prefect.db*"))
    assert raw and not any(code.split("-", 1)[1].encode() in raw for code in codes)
