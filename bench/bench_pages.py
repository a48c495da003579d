"""The volunteer's phone pages against the JSON API for the same data, under load.

    .venv/bin/python -m bench.bench_pages [--clients 8] [--records 30] [--database-url URL]

The ledger service runs in this process (uvicorn in a thread, as the tests run it), wrapped
in a timer that takes each request's **server time** (from the request's arrival at the app
to its answer's last byte). ``--clients`` volunteers work at once, each in a thread of its
own with its own code and its own tasks, doing ``--records`` rounds; each round does the
same work through both doors, in turn (which goes first alternates per round):

- the list of my tasks: ``GET /app/`` vs ``GET /tasks``;
- one task's card: ``GET /app/tasks/{id}`` vs ``GET /tasks/{id}`` (both log the showing);
- record ``no_answer`` (each door on a task of its own): ``POST /app/tasks/{id}/record``
  (a form, then the list it is sent back to) vs ``POST /tasks/{id}/outcomes``.

Printed: p50/p95 server time of each, the page's against the API's (issue 26 asks for each
page's time ≤ 2× the API's), bytes per page (and gzip-compressed, what a proxy that
compresses would send), and the exactly-once check of every outcome sent.
"""

from __future__ import annotations

import argparse
import gzip
import re
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_service import _free_port, _pct, _world

#: Request path → the name it is reported under.
ROUTES = [
    (re.compile(r"GET /app/$"), "page: list"),
    (re.compile(r"GET /tasks$"), "api: list"),
    (re.compile(r"GET /app/tasks/\d+$"), "page: card"),
    (re.compile(r"GET /tasks/\d+$"), "api: card"),
    (re.compile(r"POST /app/tasks/\d+/record$"), "page: record"),
    (re.compile(r"POST /tasks/\d+/outcomes$"), "api: record"),
    (re.compile(r"POST /app/login$"), "page: login"),
]
PAIRS = (("list", "the list of my tasks"), ("card", "one task's card"),
         ("record", "record no_answer"))


class Timed:
    """Each request's server time, by route name (an ASGI wrapper around the app)."""

    def __init__(self, app) -> None:
        self.app = app
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        key = f"{scope['method']} {scope['path']}"
        name = next((n for rx, n in ROUTES if rx.fullmatch(key)), None)
        t0 = time.perf_counter()

        async def timed_send(message):
            await send(message)
            if name and message["type"] == "http.response.body" and \
                    not message.get("more_body"):
                with self.lock:
                    self.times.setdefault(name, []).append(time.perf_counter() - t0)

        await self.app(scope, receive, timed_send)


def _serve(app, port: int):
    import uvicorn

    from outreach.service.app import server_options

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            log_config=None, access_log=False, lifespan="off",
                            **server_options())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the ledger service did not start")
        time.sleep(0.02)
    return server, thread


def _volunteer(base: str, code: str, ids: list[int], rounds: int, sizes: dict,
               errors: list, gate: threading.Barrier) -> None:
    import httpx

    from outreach.cli.remote import new_key

    pages_ids, api_ids = ids[:rounds], ids[rounds:2 * rounds]
    origin = {"Origin": base}
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as page, \
            httpx.Client(base_url=base, timeout=60,
                         headers={"Authorization": f"Bearer {code}"}) as api:
        r = page.post("/app/login", data={"code": code}, headers=origin)
        if r.status_code != 303:
            errors.append(f"login {r.status_code}")
            return
        home = page.get("/app/")
        csrf = re.search(r'name="csrf" content="([^"]+)"', home.text).group(1)
        gate.wait()
        for n, (p_id, a_id) in enumerate(zip(pages_ids, api_ids)):
            def pages() -> None:
                listed = page.get("/app/")
                card = page.get(f"/app/tasks/{p_id}")
                seen = re.search(r'name="seen_attempts" value="(\d+)"', card.text).group(1)
                key = re.search(r'name="key" value="([^"]+)"', card.text).group(1)
                sent = page.post(f"/app/tasks/{p_id}/record", headers=origin, data={
                    "outcome": "no_answer", "key": key, "csrf": csrf,
                    "seen_attempts": seen, "note": "bench"})
                if sent.status_code != 303:
                    errors.append(f"page record {p_id}: {sent.status_code}")
                page.get(sent.headers.get("location", "/app/"))
                for what, resp in (("list", listed), ("card", card)):
                    sizes.setdefault(what, (len(resp.content),
                                            len(gzip.compress(resp.content))))

            def json_api() -> None:
                api.get("/tasks")
                api.get(f"/tasks/{a_id}")
                r = api.post(f"/tasks/{a_id}/outcomes", json={"outcome": "no_answer",
                                                             "note": "bench"},
                             headers={"Idempotency-Key": new_key()})
                if r.status_code != 200:
                    errors.append(f"api record {a_id}: {r.status_code}")

            try:
                for step in ((pages, json_api) if n % 2 == 0 else (json_api, pages)):
                    step()
            except Exception as exc:  # counted and shown, the run goes on
                errors.append(f"{exc.__class__.__name__}: {exc}")


def _exactly_once(url: str, world: dict, rounds: int) -> list[str]:
    from sqlalchemy import func, select

    from outreach.db.models import Attempt
    from outreach.db.session import make_engine, session_scope

    sent = {t for __, ids in world.values() for t in ids[:2 * rounds]}
    eng = make_engine(url)
    with session_scope(eng, write=False) as s:
        got = dict(s.execute(select(Attempt.task_id, func.count())
                             .group_by(Attempt.task_id)).all())
    eng.dispose()
    problems = []
    if set(got) != sent:
        problems.append(f"{len(sent - set(got))} never recorded, "
                        f"{len(set(got) - sent)} recorded but not sent")
    twice = [t for t, n in got.items() if n != 1]
    if twice:
        problems.append(f"{len(twice)} recorded more than once")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--records", type=int, default=30, help="rounds per volunteer")
    ap.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench-pages.db'}"
        world = _world(url, args.clients, 2 * args.records)
        from outreach.service.app import create_app

        app = create_app(url)
        timed = Timed(app)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server, thread = _serve(timed, port)
        sizes: dict[str, tuple[int, int]] = {}
        errors: list[str] = []
        gate = threading.Barrier(len(world))
        try:
            with __import__("httpx").Client(base_url=base) as anon:
                login = anon.get("/app/login").content
                sizes["login"] = (len(login), len(gzip.compress(login)))
                for name in ("app.css", "app.js"):
                    body = anon.get(f"/app/static/{name}").content
                    sizes[name] = (len(body), len(gzip.compress(body)))
            threads = [threading.Thread(target=_volunteer, args=(
                base, code, ids, args.records, sizes, errors, gate))
                for code, ids in world.values()]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.ledger.engine.dispose()
        problems = _exactly_once(url, world, args.records)
        if errors:
            problems.append(f"{len(errors)} requests failed: {errors[:3]}")

    t = timed.times
    print(f"\n{len(world)} volunteers at once x {args.records} rounds, each round through "
          f"both doors ({wall:.1f} s); server time per request")
    print(f"{'request':34} {'p50 ms':>8} {'p95 ms':>8}   {'page/API p50':>12} {'p95':>6}")
    worst = 0.0
    for key, label in PAIRS:
        pg, js = t.get(f"page: {key}", [float("nan")]), t.get(f"api: {key}", [float("nan")])
        r50, r95 = _pct(pg, 50) / _pct(js, 50), _pct(pg, 95) / _pct(js, 95)
        worst = max(worst, r50)
        print(f"{'page: ' + label:34} {_pct(pg, 50) * 1000:8.1f} {_pct(pg, 95) * 1000:8.1f}"
              f"   {r50:12.2f} {r95:6.2f}")
        print(f"{'API:  ' + label:34} {_pct(js, 50) * 1000:8.1f} {_pct(js, 95) * 1000:8.1f}")
    if "page: login" in t:
        lg = t["page: login"]
        print(f"{'page: log in (no API twin)':34} {_pct(lg, 50) * 1000:8.1f} "
              f"{_pct(lg, 95) * 1000:8.1f}")
    print(f"\n{'bytes per page':34} {'bytes':>8} {'gzip':>8}   (limit 60 KB each)")
    for name, (raw, packed) in sizes.items():
        print(f"{name:34} {raw:8,} {packed:8,}")
    print("\nexactly once: " + ("every outcome sent is recorded once"
                               if not problems else "PROBLEMS " + "; ".join(problems)))
    print(f"target: each page's p50 server time <= 2x the API's (worst here {worst:.2f})")
    if problems or max(raw for raw, __ in sizes.values()) > 60 * 1024:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
