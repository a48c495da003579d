"""A survey in shards through the real stack on PostgreSQL with two workers: the run
starts one flow run per shard on the work pool (deployment ``campaign-shard``, queue
``shards``), waits for them, and the ledger ends exactly as after one unsharded run of the
same survey on an identical ledger (planned here by the plain function)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from outreach.cli import stack
from outreach.db.session import make_engine
from tests.e2e.conftest import TODAY, _reset_engines, free_port
from tests.e2e.test_stack import PG_SERVER, _api
from tests.flows.test_shards import BATCH, build, snapshot

PREFECT_DB = os.environ.get("OUTREACH_E2E_SHARDS_PREFECT_DB", "outreach_e2e_shards_prefect")
LEDGER_DB = os.environ.get("OUTREACH_E2E_SHARDS_LEDGER_DB", "outreach_e2e_shards")
TWIN_DB = f"{LEDGER_DB}_twin"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _databases(*, create: tuple[str, ...] = ()) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for name in (PREFECT_DB, LEDGER_DB, TWIN_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for name in create:
            conn.execute(f'CREATE DATABASE "{name}"')


def _unsharded_twin() -> dict:
    """The same ledger planned by one unsharded survey, here: the state to end in."""
    from outreach.db import migrate
    from outreach.tasks.campaigns import plan_jobs

    url = f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{TWIN_DB}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    eng.dispose()
    build(url)
    eng = make_engine(url)
    plan_jobs.plan_campaign(eng, "survey", TODAY.strftime("%Y-%m"), today=TODAY,
                            batch_size=BATCH)
    eng.dispose()
    return snapshot(url)


def _wait(api_url: str, run_id: str, deadline: float) -> dict:
    while True:
        run = _api("GET", f"{api_url}/flow_runs/{run_id}")
        if run["state"]["type"] in FINAL or time.monotonic() > deadline:
            return run
        time.sleep(1)


def _why(api_url: str, home) -> str:
    """What a run that did not complete leaves to read: every flow run's state, and the
    last lines of each worker's log."""
    try:
        runs = _api("POST", f"{api_url}/flow_runs/filter", {})
        lines = [f"{r['name']}: {r['state']['type']} ({r['state'].get('message') or ''})"
                 for r in runs]
    except Exception as exc:  # noqa: BLE001 - the server may be the reason
        lines = [f"the flow runs could not be read: {exc}"]
    for log in sorted(Path(home).rglob("worker-*.log")):
        lines += [f"--- {log.name}", *log.read_text(errors="replace").splitlines()[-30:]]
    return "\n".join(lines)


def _takers(api_url: str, runs: set[str], deadline: float) -> dict[str, str]:
    """flow run id → the worker that submitted it (its ``submitted-flow-run`` event)."""
    while True:
        page = _api("POST", f"{api_url}/events/filter", {
            "filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}},
            "limit": 50})
        found = {}
        for ev in page["events"]:
            for rel in ev.get("related", []):
                run = rel.get("prefect.resource.id", "").removeprefix("prefect.flow-run.")
                if run in runs:
                    found[run] = ev["resource"].get("prefect.resource.name", "?")
        if set(found) == runs or time.monotonic() > deadline:
            return found
        time.sleep(1)


@pytest.mark.e2e
def test_a_survey_in_shards_runs_on_the_pool_and_ends_as_one_run(tmp_path, monkeypatch):
    try:
        _databases(create=(TWIN_DB,))
    except Exception as exc:  # noqa: BLE001 - the reason is shown
        pytest.fail(f"PostgreSQL at {PG_SERVER} is needed: {exc}")
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", "2")  # passed on to the workers
    monkeypatch.delenv("OUTREACH_DATABASE_URL", raising=False)
    _reset_engines()
    t0 = time.monotonic()
    up = stack.up(postgres=True, workers=2, port=free_port(), pg_server=PG_SERVER,
                  prefect_db=PREFECT_DB, ledger_db=LEDGER_DB, timeout=240,
                  service_port=free_port())
    try:
        t_up = time.monotonic() - t0
        build(up.ledger)
        want = _unsharded_twin()
        t_built = time.monotonic() - t0 - t_up
        dep = _api("GET", f"{up.api_url}/deployments/name/survey/survey")
        run = _api("POST", f"{up.api_url}/deployments/{dep['id']}/create_flow_run",
                   {"parameters": {"period": TODAY.strftime("%Y-%m"),
                                   "today": TODAY.isoformat(), "batch_size": BATCH,
                                   "shards": 2}})
        t_submit = time.monotonic()
        # Alone the run completes in about 15 s; CI runs this lane beside the PostgreSQL
        # suite on the same two cores, where three Prefect subprocesses start much slower.
        parent = _wait(up.api_url, run["id"], t_submit + 480)
        t_done = time.monotonic() - t_submit
        assert parent["state"]["type"] == "COMPLETED", (parent["state"],
                                                        _why(up.api_url, tmp_path))

        shard_dep = _api("GET", f"{up.api_url}/deployments/name/campaign-shard/campaign-shard")
        shards = _api("POST", f"{up.api_url}/flow_runs/filter", {
            "deployments": {"id": {"any_": [shard_dep["id"]]}}})
        assert len(shards) == 2
        assert {s["state"]["type"] for s in shards} == {"COMPLETED"}
        assert {s["work_pool_name"] for s in shards} == {stack.POOL}
        assert {s["work_queue_name"] for s in shards} == {"shards"}
        assert all(s["parent_task_run_id"] for s in shards)  # shown under the survey run
        assert sorted(s["parameters"]["shard"] for s in shards) == [1, 2]
        # which worker took which shard (either may take both: the pool decides)
        takers = _takers(up.api_url, {s["id"] for s in shards}, time.monotonic() + 20)
        assert set(takers) == {s["id"] for s in shards}, takers

        arts = _api("POST", f"{up.api_url}/artifacts/filter", {
            "artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
        assert {"survey-2026-11-shards", "survey-2026-11-summary"} <= {a["key"] for a in arts}

        assert snapshot(up.ledger) == want
        print(f"\nshards e2e: stack up {t_up:.1f} s, two ledgers {t_built:.1f} s, survey in "
              f"2 shards completed {t_done:.1f} s after submit (workers: "
              f"{sorted(takers.values())}), whole {time.monotonic() - t0:.1f} s")
    finally:
        stack.down()
        _reset_engines()
        _databases()
