"""The ledger service over raw HTTP: codes, the wrong-code slow-down per volunteer and per
address, other people's tasks, and no request that shows another member's phone."""

from __future__ import annotations

import http.client
import itertools
import json
import threading

import pytest
from sqlalchemy import select

import outreach.service.common
from outreach import service
import outreach.tasks.access.permissions
from outreach import tasks
from outreach.db.models import LoginFailure, Volunteer
from outreach.db.session import engine, session_scope
from tests.reliability.test_access import World, contacts_of, none_shown, snapshot, unchanged


_keys = itertools.count(1)


def call(base: str, method: str, path: str, *, code: str | None = None, body=None,
         headers: dict | None = None, raw: bytes | None = None) -> tuple[int, object, dict]:
    """(status, decoded JSON body, headers) of one request."""
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    h = dict(headers or {})
    if method == "POST" and not any(k.lower() == "idempotency-key" for k in h):
        h["Idempotency-Key"] = f"test-{next(_keys)}"  # a write needs one (issue 24)
    if code is not None:
        h["Authorization"] = f"Bearer {code}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    try:
        decoded = json.loads(text) if text else None
    except ValueError:
        decoded = text
    return resp.status, decoded, dict(resp.getheaders())


def one_line_error(body, exit_code: int) -> str:
    assert isinstance(body, dict) and set(body) == {"error", "exit_code"}, "an error body"
    assert body["exit_code"] == exit_code and "\n" not in body["error"]
    return body["error"]


#: The routes that need a code, as (method, path with {task_id}), from the app itself.
def coded_routes(app) -> list[tuple[str, str]]:
    spec = app.openapi()
    return sorted((m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if p != "/health")


def test_health_docs_and_openapi_need_no_code(world, serve):
    svc = serve(world.url)
    assert call(svc.url, "GET", "/health")[:2] == (200, {"status": "ok"})
    status, spec, _ = call(svc.url, "GET", "/openapi.json")
    assert status == 200 and "/tasks/{task_id}/outcomes" in spec["paths"]
    assert call(svc.url, "GET", "/docs")[0] == 200
    assert coded_routes(svc.app) == [
        ("GET", "/me"), ("GET", "/tasks"), ("GET", "/tasks/{task_id}"),
        ("POST", "/members/{ref}/links"), ("POST", "/members/{ref}/links/revoke"),
        ("POST", "/tasks/{task_id}/outcomes"), ("POST", "/tasks/{task_id}/release")], \
        "a new route joins the checks below"


def _bodies(path: str, outcome: str = "no_answer") -> dict | None:
    return {"outcome": outcome} if path.endswith("/outcomes") else None


def test_every_route_refuses_a_missing_code_with_401(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    before = snapshot(world.url)
    for method, path in coded_routes(svc.app):
        for headers in ({}, {"Authorization": "Basic Ym9iOmJvYg=="}, {"Authorization": ""}):
            status, body, h = call(svc.url, method, path.format(task_id=task, ref=task),
                                   body=_bodies(path), headers=headers)
            assert status == 401, (method, path, status)
            assert "no access code" in one_line_error(body, 1)
            assert h.get("www-authenticate") == "Bearer"
    unchanged(before, snapshot(world.url))


class FakeTime:
    """`time` for tasks.access.permissions and the service's wait: sleeping advances a clock, nobody
    waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def monotonic(self) -> float:
        return self.now

    async def pause(self, seconds: float) -> None:
        """The service's wait on its event loop (no worker thread held)."""
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(tasks.access.permissions, "BASE_DELAY", 1.0)  # as shipped
    monkeypatch.setattr(tasks.access.permissions, "time", fake)
    monkeypatch.setattr(service.common, "pause", fake.pause)
    return fake


def address_failures(url: str) -> dict[str, int]:
    with session_scope(engine(url), write=False) as s:
        return dict(s.execute(select(LoginFailure.address, LoginFailure.failures)).all())


def failed_logins(url: str, vid: int) -> int:
    with session_scope(engine(url), write=False) as s:
        return s.get(Volunteer, vid).failed_logins


def test_wrong_codes_are_401_slowed_per_address_and_per_volunteer(world, serve, clock):
    """A wrong code waits the longer of two delays: the volunteer's wrong codes in a row
    and the client address's. Guessing other ids from one address gets slower each time
    (the per-volunteer count alone would stay at one second), a right code in between
    does not reset the address, and nothing in the request turns it off."""
    svc = serve(world.url)
    secret = world.bob.split("-", 1)[1]
    waits = []
    for n in range(4):  # four unknown ids: each volunteer count is 0, the address's grows
        before = clock.now
        status, body, _ = call(svc.url, "GET", "/tasks", code=f"{900 + n}-{secret}",
                               headers={"X-Forwarded-For": f"10.0.0.{n}",
                                        "X-Real-IP": "10.9.9.9"})
        waits.append(clock.now - before)
        assert status == 401 and one_line_error(body, 1) == "wrong access code"
    assert waits == pytest.approx([1, 2, 4, 8]), waits
    assert address_failures(world.url) == {"127.0.0.1": 4}, "counted under the real address"

    before = clock.now
    assert call(svc.url, "GET", "/me", code=world.bob)[0] == 200
    assert clock.now == before, "the right code does not wait"

    cat = World.vid(world.cat)
    for n, expected in enumerate([16, 30, 30]):  # Cat's id with Bob's secret
        before = clock.now
        status, body, _ = call(svc.url, "POST", f"/tasks/{world.of(world.cat)[0]}/release",
                               code=f"{cat}-{secret}")
        assert status == 401 and "wrong access code" in one_line_error(body, 1)
        assert clock.now - before == pytest.approx(expected)
    assert failed_logins(world.url, cat) == 3, "and counted for Cat"
    assert address_failures(world.url) == {"127.0.0.1": 7}


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(world, serve, clock):
    """`outreach serve --trusted-proxy ADDR`: wrong codes are counted under the address
    the proxy forwards, so that one client's guesses do not slow every other client."""
    svc = serve(world.url, ["127.0.0.1"])
    secret = world.bob.split("-", 1)[1]
    for n, client in enumerate(["10.1.1.1", "10.1.1.1", "10.2.2.2"]):
        status, _, _ = call(svc.url, "GET", "/me", code=f"{900 + n}-{secret}",
                            headers={"X-Forwarded-For": client})
        assert status == 401
    assert address_failures(world.url) == {"10.1.1.1": 2, "10.2.2.2": 1}


def test_a_malformed_code_is_401_with_the_clis_line(world, serve):
    svc = serve(world.url)
    for code in (world.bob[:-1], "nonsense", "１７-ＡＢＣＤ"):
        status, body, _ = call(svc.url, "GET", "/me", code=code.encode().decode("latin-1"))
        assert status == 401
        assert "not an access code" in one_line_error(body, 2)


@pytest.mark.parametrize("whose", ["another-volunteers", "nobodys"])
def test_another_volunteers_task_is_403_or_404_with_no_details(world, serve, whose):
    """Every route on a task that is not Bob's: refused, one line that names no member
    and no contact detail, nothing written."""
    svc = serve(world.url)
    task = world.of(world.cat)[0] if whose == "another-volunteers" else world.loose
    member = world.tasks[task][1]
    before = snapshot(world.url)
    requests = [("GET", f"/tasks/{task}", None)]
    for outcome, ask in itertools.product(["no_answer", "reached", None], [False, True]):
        requests.append(("POST", f"/tasks/{task}/outcomes", {"outcome": outcome, "ask": ask}))
    requests.append(("POST", f"/tasks/{task}/release", None))
    for method, path, body in requests:
        status, answer, _ = call(svc.url, method, path, code=world.bob, body=body)
        assert status in (403, 404), (method, path, status)
        text = one_line_error(answer, 1)
        assert "not yours" in text
        none_shown(text, world.contacts[member] | {world.names[member]}, path)
    unchanged(before, snapshot(world.url))


def test_bad_input_is_400_or_422_with_the_clis_line(world, serve):
    svc = serve(world.url)
    task = world.of(world.bob)[0]
    cases = [
        ("GET", "/tasks?status=bogus", None, 400, "unknown status 'bogus'"),
        ("GET", "/tasks?kind=picnic", None, 400, "unknown kind"),
        ("GET", "/tasks?today=2026-13-01", None, 400, "not a date"),
        ("GET", "/tasks?limit=0", None, 422, "bad request: limit"),
        ("GET", "/tasks/abc", None, 422, "bad request: path.task_id"),
        ("GET", "/tasks/999999", None, 404, "no task with id 999999"),
        ("GET", f"/tasks/{2**63}", None, 404, "no task"),
        ("POST", f"/tasks/{task}/outcomes", {"outcome": "teleported"}, 400, "unknown outcome"),
        ("POST", f"/tasks/{task}/outcomes", {"outcome": "reached"}, 400, "needs answers"),
        ("POST", f"/tasks/{task}/outcomes",
         {"outcome": "reached", "answers": {"phone": "call me maybe"}}, 400,
         "not a phone number"),
        ("POST", f"/tasks/{task}/outcomes", {"answers": "x"}, 422, "bad request: answers"),
        ("GET", "/nowhere", None, 404, "not found"),
    ]
    before = snapshot(world.url)
    for method, path, body, status, says in cases:
        got, answer, _ = call(svc.url, method, path, code=world.bob, body=body)
        assert got == status, (path, got, answer)
        assert says in one_line_error(answer, 2), (path, answer)
        assert "call me maybe" not in answer["error"]
    unchanged(before, snapshot(world.url))
    status, answer, _ = call(svc.url, "POST", f"/tasks/{task}/outcomes", code=world.bob,
                             raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 422 and one_line_error(answer, 2).startswith("bad request")


def _requests(world: World, app) -> list[tuple[str, str, dict | None]]:
    """Every route of the OpenAPI spec, with every task id in the ledger, every query
    option the spec lists and bodies asking for the most (survey forms, answers)."""
    spec = app.openapi()
    ids = sorted(world.tasks) + [0, -1, 2**31]
    out: list[tuple[str, str, dict | None]] = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            paths = [path.format(task_id=t) for t in ids] if "{task_id}" in path else [path]
            queries = [""]
            if params:
                values = {"all": ["true"], "contacts": ["true"], "branch": ["North"],
                          "volunteer": [str(World.vid(world.cat)), "1"],
                          "status": ["open", "assigned", "done", "cancelled"],
                          "kind": ["survey"], "today": ["2026-12-31"], "limit": ["1000"]}
                queries += [f"?{p}={v}" for p in params for v in values.get(p, ["1"])]
                queries += ["?contacts=true&status=" + s for s in ("open", "done", "assigned")]
            bodies = [None]
            if path.endswith("/outcomes"):
                bodies = [{"outcome": None, "ask": True}, {"outcome": "reached", "ask": True},
                          {"outcome": "moved", "ask": True, "answers": {"phone": "same"}}]
            for p, q, b in itertools.product(paths, queries, bodies):
                out.append((method.upper(), p + q, b))
    return out


def test_no_request_shows_a_volunteer_another_members_phone(world, serve):
    """Walk every route of the service's OpenAPI with Bob's code — every task id of the
    ledger, every query option, the bodies that ask for the most — and look for the phone
    numbers (and addresses, family contacts) of members who are not on Bob's open tasks in
    every answer. Bob's own members' phones do show (the walk reaches real answers)."""
    svc = serve(world.url)
    mine = {world.tasks[t][1] for t in world.of(world.bob)}
    others = contacts_of(world, set(world.contacts) - mine)
    own = contacts_of(world, mine)
    seen_own = 0
    requests = _requests(world, svc.app)
    assert len(requests) > 50
    for method, path, body in requests:
        status, answer, headers = call(svc.url, method, path, code=world.bob, body=body)
        text = json.dumps(answer, ensure_ascii=False) + json.dumps(headers)
        none_shown(text, others, f"{method} {path.split('?')[0]} ({status})")
        seen_own += sum(1 for v in own if v in text)
    assert seen_own > 0, "the walk reached Bob's own members' details"


def test_waiting_wrong_codes_hold_no_worker_thread(world, serve, monkeypatch):
    """Wrong codes wait on the service's event loop, not in its worker threads: with more
    wrong-code requests waiting than the service has threads (40), a volunteer with the
    right code is still answered."""
    import asyncio

    released = threading.Event()
    waiting: list[float] = []

    async def held(seconds: float) -> None:  # a wrong code's wait that lasts until released
        waiting.append(seconds)
        while not released.is_set():
            await asyncio.sleep(0.01)

    monkeypatch.setattr(tasks.access.permissions, "BASE_DELAY", 1.0)  # as shipped
    monkeypatch.setattr(service.common, "pause", held)
    svc = serve(world.url)
    secret = world.bob.split("-", 1)[1]
    statuses: list[int] = []
    guessers = [threading.Thread(target=lambda n=n: statuses.append(
        call(svc.url, "GET", "/tasks", code=f"{900 + n}-{secret}")[0])) for n in range(60)]
    for t in guessers:
        t.start()
    try:
        for _ in range(1500):  # until all 60 wait (a hang guard, not a timing threshold)
            if len(waiting) >= 60:
                break
            threading.Event().wait(0.02)
        assert len(waiting) == 60 and min(waiting) >= 1.0
        assert call(svc.url, "GET", "/me", code=world.bob)[0] == 200
        assert not statuses, "the wrong codes are still waiting"
    finally:
        released.set()
        for t in guessers:
            t.join(timeout=30)
    assert statuses == [401] * 60
