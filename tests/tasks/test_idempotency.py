"""Issue 24, defect 5: the same attempt never counts twice.

- An Idempotency-Key: the same key from the same person gets the first answer and does
  nothing again — also twenty retries at once (`tasks.access.idempotency.once`); the same key
  with another request is refused; a key is one person's; a refusal is not remembered;
  keys go after 30 days.
- Two different people on one task at the same moment: one is recorded, the other is told
  (`Conflict`), also when they come one after the other within minutes; the client's
  ``seen_attempts`` is checked (`tasks.work.outcomes.record_outcome`).
Run on SQLite and, with OUTREACH_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import asdict

import pytest
from sqlalchemy import func, select, update

from outreach.db.errors import BadInput, Conflict
from outreach.db.machines import MemberStatus as MS
from outreach.db.models import Attempt, CampaignKind, IdempotencyKey, OutreachTask
from outreach.db.session import make_engine, session_scope
from outreach.tasks.access import idempotency
from outreach.tasks.work import outcomes as oc
from tests.tasks.test_outcomes import TODAY, world

K = CampaignKind


@pytest.fixture
def eng(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


@pytest.fixture
def w(eng):
    """A phone visit assigned to a volunteer, their coordinator, ids and actors."""
    with session_scope(eng) as s:
        made = world(s, K.PHONE_VISIT, member_state=MS.ACTIVE, max_attempts=5)
        other = world(s, K.PHONE_VISIT, member_state=MS.ACTIVE, max_attempts=5)
        from tests.db import factories as f

        return {"task": made.task.id, "vol": made.a, "coord": f.actor(s, made.coord),
                "other_task": other.task.id, "other_vol": other.a}


def record(eng, actor, task_id: int, key: str, outcome: str = "no_answer",
           note: str | None = None, seen_attempts: int | None = None) -> idempotency.Answer:
    """One write transaction, as the service and the CLI run it."""
    body = {"outcome": outcome, "note": note}
    with session_scope(eng) as s:
        def work():
            res = oc.record_outcome(s, task_id=task_id, outcome=outcome, actor=actor,
                                    note=note, today=TODAY, seen_attempts=seen_attempts)
            return 200, {"recorded": asdict(res)}, True

        return idempotency.once(s, actor=actor, key=key, method="POST",
                                path=f"/tasks/{task_id}/outcomes", body=body, work=work)


def attempts(eng, task_id: int) -> int:
    with session_scope(eng, write=False) as s:
        return s.scalar(select(func.count()).select_from(Attempt).where(
            Attempt.task_id == task_id))


def keys(eng) -> int:
    with session_scope(eng, write=False) as s:
        return s.scalar(select(func.count()).select_from(IdempotencyKey))


def test_the_same_key_twice_is_one_attempt_and_the_first_answer(eng, w):
    first = record(eng, w["vol"], w["task"], "k-1")
    again = record(eng, w["vol"], w["task"], "k-1")
    assert attempts(eng, w["task"]) == 1
    assert (first.status, first.replay) == (200, False)
    assert (again.status, again.body, again.replay) == (200, first.body, True)
    assert first.body["recorded"]["attempts"] == 1
    with session_scope(eng, write=False) as s:
        assert s.get(OutreachTask, w["task"]).attempts == 1
    other = record(eng, w["vol"], w["task"], "k-2")  # a fresh key is a new attempt
    assert other.body["recorded"]["attempts"] == 2 and attempts(eng, w["task"]) == 2


def test_the_same_key_with_another_request_is_refused(eng, w):
    record(eng, w["vol"], w["task"], "k-1")
    with pytest.raises(BadInput, match="this Idempotency-Key was used for another request"):
        record(eng, w["vol"], w["task"], "k-1", note="rang again")
    assert attempts(eng, w["task"]) == 1


@pytest.mark.parametrize("bad", [None, "", "has space", "ü-nicode", "x" * 101, "a/b", "k;1"])
def test_a_write_needs_a_well_formed_key(eng, w, bad):
    with pytest.raises(BadInput, match="Idempotency-Key"):
        record(eng, w["vol"], w["task"], bad)
    assert attempts(eng, w["task"]) == 0 and keys(eng) == 0


def test_keys_of_1_to_100_letters_digits_and_punctuation_are_taken(eng, w):
    for n, key in enumerate(["a", "x" * 100, "0f1e2d3c-ULID_01HZ.phone:42"]):
        record(eng, w["vol"], w["task"], key)
        assert attempts(eng, w["task"]) == n + 1


def test_a_key_is_one_persons(eng, w):
    record(eng, w["vol"], w["task"], "shared")
    theirs = record(eng, w["other_vol"], w["other_task"], "shared")
    assert not theirs.replay
    assert (attempts(eng, w["task"]), attempts(eng, w["other_task"])) == (1, 1)


def test_a_refusal_is_not_remembered(eng, w):
    with pytest.raises(BadInput):
        record(eng, w["vol"], w["task"], "k-1", outcome="teleported")
    assert keys(eng) == 0
    # nothing was done, nothing kept: the key is free for the request done right
    assert not record(eng, w["vol"], w["task"], "k-1").replay
    assert attempts(eng, w["task"]) == 1


def test_keys_are_forgotten_after_30_days(eng, w):
    record(eng, w["vol"], w["task"], "old")
    record(eng, w["vol"], w["task"], "recent")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with session_scope(eng) as s:
        s.execute(update(IdempotencyKey).where(IdempotencyKey.key == "old")
                  .values(created_at=now - dt.timedelta(days=31)))
        s.execute(update(IdempotencyKey).where(IdempotencyKey.key == "recent")
                  .values(created_at=now - dt.timedelta(days=29)))
    with session_scope(eng) as s:
        assert idempotency.purge(s, now=now) == 1
        assert s.scalars(select(IdempotencyKey.key)).all() == ["recent"]


def test_a_write_drops_its_persons_keys_older_than_30_days(eng, w):
    record(eng, w["vol"], w["task"], "old")
    with session_scope(eng) as s:
        s.execute(update(IdempotencyKey).values(
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=31)))
    record(eng, w["vol"], w["task"], "new")
    with session_scope(eng, write=False) as s:
        assert s.scalars(select(IdempotencyKey.key)).all() == ["new"]


def _at_once(n: int, fn) -> list:
    """``fn(i)`` on ``n`` threads released together; each result or exception."""
    gate = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_twenty_parallel_retries_with_one_key_are_one_attempt_and_twenty_answers(eng, w):
    """The report: 20 parallel retries exhausted a task and made a member unreachable."""
    answers = _at_once(20, lambda i: record(eng, w["vol"], w["task"], "retry-me"))
    assert all(isinstance(a, idempotency.Answer) for a in answers), answers
    assert attempts(eng, w["task"]) == 1
    assert len({(a.status, repr(a.body)) for a in answers}) == 1, "20 identical answers"
    assert sum(not a.replay for a in answers) == 1
    assert answers[0].body["recorded"]["member_status"] == "active"
    assert keys(eng) == 1


def test_a_volunteer_and_a_coordinator_at_once_one_is_recorded_the_other_told(eng, w):
    actors = [w["vol"], w["coord"]]
    got = _at_once(2, lambda i: record(eng, actors[i], w["task"], f"person-{i}"))
    done = [g for g in got if isinstance(g, idempotency.Answer)]
    told = [g for g in got if isinstance(g, Conflict)]
    assert (len(done), len(told)) == (1, 1), got
    assert "someone else has just recorded on task" in str(told[0])
    assert "look at it again" in str(told[0])
    assert attempts(eng, w["task"]) == 1
    with session_scope(eng, write=False) as s:
        assert s.get(OutreachTask, w["task"]).attempts == 1


def test_another_person_within_10_minutes_is_told_after_that_recorded(eng, w):
    record(eng, w["vol"], w["task"], "v-1")
    with pytest.raises(Conflict, match="someone else has just recorded"):
        record(eng, w["coord"], w["task"], "c-1")
    record(eng, w["vol"], w["task"], "v-2")  # the same person again is a new attempt
    assert attempts(eng, w["task"]) == 2
    with session_scope(eng) as s:  # 11 minutes later
        s.execute(update(Attempt).where(Attempt.task_id == w["task"]).values(
            recorded_at=Attempt.recorded_at - dt.timedelta(minutes=11)))
    assert record(eng, w["coord"], w["task"], "c-1").body["recorded"]["attempts"] == 3


def test_seen_attempts_that_are_not_the_tasks_are_a_conflict(eng, w):
    record(eng, w["vol"], w["task"], "v-1", seen_attempts=0)
    with pytest.raises(Conflict, match="look at it again"):
        record(eng, w["vol"], w["task"], "v-2", seen_attempts=0)
    assert record(eng, w["vol"], w["task"], "v-3", seen_attempts=1).status == 200
    assert attempts(eng, w["task"]) == 2
