"""Issue 24, defect 5, through the ledger service and the CLI: every write takes an
``Idempotency-Key`` (a missing one is 400); the same key from the same person returns the
first answer (same status, same body) and does nothing again — also twenty retries at
once; the same key with another request is 422; two different people on one task at the
same moment: one is recorded, the other gets 409. The CLI sends one key per command and
``--idempotency-key`` repeats one: the same key twice is one attempt, locally and through
the service."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from outreach.db.models import Attempt, IdempotencyKey
from outreach.db.session import engine, session_scope
from tests.cli.helpers import outreach
from tests.reliability.test_access import snapshot, unchanged
from tests.service.test_remote_cli import remote
from tests.service.test_service import call, one_line_error


def attempts(url: str, task: int) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(Attempt).where(
            Attempt.task_id == task))


def keys(url: str) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(IdempotencyKey))


def test_a_write_without_a_key_or_with_a_malformed_one_is_400(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    before = snapshot(world.url)
    for path, body in ((f"/tasks/{task}/outcomes", {"outcome": "no_answer"}),
                       (f"/tasks/{task}/release", None)):
        for key, says in (("", "needs an Idempotency-Key header"),
                          ("   ", "needs an Idempotency-Key header"),
                          ("has space", "1 to 100 letters, digits"),
                          ("x" * 101, "1 to 100 letters, digits")):
            status, answer, __ = call(svc.url, "POST", path, code=world.bob, body=body,
                                      headers={"Idempotency-Key": key})
            assert status == 400, (path, key, status)
            assert says in one_line_error(answer, 2)
    unchanged(before, snapshot(world.url))


def test_the_same_key_twice_returns_the_first_answer_and_records_once(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    key = {"Idempotency-Key": "phone-queue:7"}
    body = {"outcome": "no_answer", "note": "rang twice"}
    first = call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob, body=body,
                 headers=key)
    again = call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob, body=body,
                 headers=key)
    assert first[0] == again[0] == 200
    assert again[1] == first[1] and first[1]["recorded"]["attempts"] == 1
    assert again[2].get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first[2]
    assert attempts(world.url, task) == 1
    status, answer, __ = call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob,
                              body={"outcome": "no_answer", "note": "rang three times"},
                              headers=key)
    assert status == 422
    assert "this Idempotency-Key was used for another request" in one_line_error(answer, 2)
    assert attempts(world.url, task) == 1


def test_a_release_sent_twice_is_handed_back_once(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    key = {"Idempotency-Key": "release-1"}
    first = call(svc.url, "POST", f"/tasks/{task}/release", code=world.bob, headers=key)
    again = call(svc.url, "POST", f"/tasks/{task}/release", code=world.bob, headers=key)
    assert first[:2] == again[:2] == (200, {"task_id": task, "status": "open"})
    fresh = call(svc.url, "POST", f"/tasks/{task}/release", code=world.bob)
    assert fresh[0] == 403, "a new key is a new request: the task is no longer Bob's"


def _at_once(n: int, fn) -> list:
    gate = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        gate.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_twenty_parallel_retries_are_one_attempt_and_twenty_identical_answers(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    kept = keys(world.url)
    got = _at_once(20, lambda i: call(svc.url, "POST", f"/tasks/{task}/outcomes",
                                      code=world.bob, body={"outcome": "no_answer"},
                                      headers={"Idempotency-Key": "retry-20"}))
    assert [g[0] for g in got] == [200] * 20
    assert all(g[1] == got[0][1] for g in got), "20 identical answers"
    assert got[0][1]["recorded"]["attempts"] == 1
    assert attempts(world.url, task) == 1 and keys(world.url) == kept + 1


def test_a_volunteer_and_a_coordinator_at_once_one_recorded_the_other_409(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    codes = [world.bob, world.coord]
    got = _at_once(2, lambda i: call(svc.url, "POST", f"/tasks/{task}/outcomes",
                                     code=codes[i], body={"outcome": "no_answer"}))
    assert sorted(g[0] for g in got) == [200, 409], [g[:2] for g in got]
    told = next(g for g in got if g[0] == 409)
    assert "someone else has just recorded on task" in one_line_error(told[1], 1)
    assert attempts(world.url, task) == 1


def test_seen_attempts_sent_by_a_client_that_looked_before_is_409(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    body = {"outcome": "no_answer", "seen_attempts": 0}
    assert call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob, body=body)[0] == 200
    status, answer, __ = call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob,
                              body=body)
    assert status == 409 and "look at it again" in one_line_error(answer, 1)
    assert attempts(world.url, task) == 1


@pytest.mark.parametrize("where", ["local", "service"])
def test_the_same_key_sent_twice_by_the_cli_is_one_attempt(world, serve, where):
    task = world.of(world.bob)[0]
    args = ("task", "record", str(task), "no_answer", "--note", "rang twice",
            "--idempotency-key", "cli-repeat-1")
    svc = serve(world.url) if where == "service" else None

    def run(*a):
        return remote(svc, *a, code=world.bob) if svc else outreach(*a, code=world.bob)

    first, again = run(*args), run(*args)
    assert first.exit_code == again.exit_code == 0, (first.output, again.output)
    assert again.stdout == first.stdout and "recorded" in first.stdout
    assert attempts(world.url, task) == 1
    other = run("task", "record", str(task), "no_answer")  # a fresh key per command
    assert other.exit_code == 0 and attempts(world.url, task) == 2
    reused = run("task", "record", str(task), "no_answer", "--idempotency-key",
                 "cli-repeat-1")
    assert reused.exit_code == 2
    assert "this Idempotency-Key was used for another request" in reused.stderr
    bad = run("task", "record", str(task), "no_answer", "--idempotency-key", "no spaces")
    assert bad.exit_code == 2 and "1 to 100 letters, digits" in bad.stderr
    assert attempts(world.url, task) == 2
