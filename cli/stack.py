"""`outreach stack up|down|status`: the whole Prefect side on one machine.

`up` starts, on 127.0.0.1, a Prefect server (with its UI), creates the process work pool
``outreach``, deploys every flow of prefect.yaml (``prefect deploy --all`` from the project
root, with ``--prefect-file`` a copy in the organisation's language and time zone:
`deploy_file`, ``OUTREACH_LANG`` and ``OUTREACH_TIMEZONE`` of `db.settings`) and starts the
workers. It writes what it started to ``$OUTREACH_HOME/stack/``
(``stack.json``, ``server.log``, ``deploy.log``, ``worker-1.log`` …), so that `down` ends
only those processes: each pid is checked against the command and start time recorded
when it was started before its process group (and anything it spawned) is ended.

The Prefect server keeps its own home and database in ``$OUTREACH_HOME/stack/prefect``
(or on PostgreSQL with ``--postgres``), never in ``~/.prefect``. Telemetry is off.

The stack is locked: `up` keeps a basic-auth string (``outreach:<random>``) in
``$OUTREACH_HOME/stack/auth`` (0600). The server gets it as
``PREFECT_SERVER_API_AUTH_STRING`` (its API answers 401 without it, its UI asks for it),
the workers and `prefect deploy` as ``PREFECT_API_AUTH_STRING``. `up` also starts the
ledger service (`outreach serve`). Every process gets an explicit environment
(`environment`): what it needs, never the caller's access code or anything else of theirs.

Only the standard library and subprocess here: Prefect runs in the processes started,
never in this one (the volunteer commands share this CLI and must start fast).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

import outreach.i18n as _i18n
from outreach.db import settings
from outreach.i18n import N_, _

stack_app = typer.Typer(help=_("Run the Prefect server, deployments and workers on this "
                               "machine (operators)."), no_args_is_help=True)

PROJECT_DIR = Path(__file__).resolve().parent.parent
POOL = "outreach"
DEFAULT_PORT = 4200
SERVICE_PORT = 8765
AUTH_USER = "outreach"
#: What the stack's processes keep of the caller's environment (besides those set here).
PASSED_ON = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "PREFECT_LOGGING_LEVEL",
             "PREFECT_WORKER_QUERY_SECONDS")
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_PREFECT_DB = "outreach_prefect"
PG_LEDGER_DB = "outreach"


#: Seconds between a flow run's heartbeats (Prefect's minimum is 30).
HEARTBEAT_S = 60
#: The automation `up` creates (once): a flow run whose heartbeats stop for three beats
#: without its ending is marked Crashed: Prefect's own "zombie flow run" recipe for a
#: self-hosted server.
UNRESPONSIVE = "crash unresponsive flow runs"


def unresponsive_automation() -> dict:
    """The body of `UNRESPONSIVE` for ``POST /automations/``."""
    ends = ["prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
            "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
            "prefect.flow-run.Crashed"]
    return {
        "name": UNRESPONSIVE,
        "description": _("A flow run that stopped sending heartbeats (its machine or worker "
                         "died) is marked Crashed, so that whatever waits for it fails and "
                         "can be run again."),
        "enabled": True,
        "trigger": {"type": "event", "posture": "Proactive",
                    "after": ["prefect.flow-run.heartbeat"], "expect": ends,
                    "match": {"prefect.resource.id": ["prefect.flow-run.*"]},
                    "for_each": ["prefect.resource.id"], "threshold": 1,
                    "within": 3 * HEARTBEAT_S},
        "actions": [{"type": "change-flow-run-state", "state": "CRASHED",
                     "message": _("no heartbeat for {s} s: the flow run's process is gone")
                     .format(s=3 * HEARTBEAT_S)}],
    }


def ensure_unresponsive_automation(api_url: str) -> bool:
    """Create `UNRESPONSIVE` on the stack's server unless it is there; True if made."""
    found = _http("POST", f"{api_url}/automations/filter",
                  {"automations": {"name": {"any_": [UNRESPONSIVE]}}})
    if found:
        return False
    _http("POST", f"{api_url}/automations/", unresponsive_automation())
    return True


class StackError(Exception):
    """Something a person can fix: one line, exit code 1."""


@dataclass
class Proc:
    name: str
    pid: int
    started: int  # the process's start time in clock ticks since boot (/proc/PID/stat)
    argv: list[str]
    log: str


@dataclass
class Stack:
    port: int
    url: str
    home: str
    ledger: str
    postgres: bool = False
    prefect_database: str = "sqlite"
    procs: list[Proc] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    service_url: str = ""

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


# --- where things are ---------------------------------------------------------------------


def stack_dir() -> Path:
    return settings.home().resolve() / "stack"


def state_path() -> Path:
    return stack_dir() / "stack.json"


def auth_path() -> Path:
    """The file with the stack's basic-auth string (``outreach:<random>``), 0600."""
    return stack_dir() / "auth"


def auth_string() -> str | None:
    """The stack's basic-auth string, or None when no stack was ever started here."""
    try:
        return auth_path().read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def ensure_auth() -> str:
    """The stack's auth string: kept when it exists (browsers that logged in stay logged
    in), made otherwise; the file is 0600 either way."""
    path = auth_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = auth_string()
    if current:
        path.chmod(0o600)
        return current
    import secrets

    from outreach.cli.common import write_private

    value = f"{AUTH_USER}:{secrets.token_urlsafe(24)}"
    write_private(path, value + "\n", force=True)  # 0600, never through a link
    return value


def load() -> Stack | None:
    try:
        raw = json.loads(state_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    procs = [Proc(**p) for p in raw.pop("procs", [])]
    return Stack(**raw, procs=procs)


def save(stack: Stack) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(stack), indent=1), encoding="utf-8")
    tmp.replace(path)


def prefect_exe() -> str:
    here = Path(sys.executable).parent / "prefect"
    if here.exists():
        return str(here)
    found = shutil.which("prefect")
    if not found:
        raise StackError(_("the `prefect` command is not installed in this environment"))
    return found


def mask(url: str) -> str:
    """A database URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


# --- processes ------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a living process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    after = raw.rsplit(")", 1)[1].split()
    if after[0] == "Z":  # a zombie is as good as gone
        return None
    return int(after[1]), int(after[19])


def _cmdline(pid: int) -> list[str]:
    """The arguments of a living process. Linux now and then reads an empty cmdline for
    a busy process (seen here while Python starts), so an empty answer is asked again."""
    for __ in range(50):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return []
        if raw:
            return raw.decode(errors="replace").rstrip("\0").split("\0")
        if _stat(pid) is None:
            return []
        time.sleep(0.02)
    return []


def is_ours(p: Proc) -> bool:
    """The pid still runs the command we started (same start time, same arguments)."""
    st = _stat(p.pid)
    if st is None or st[1] != p.started:
        return False
    cmd = " ".join(_cmdline(p.pid))
    return all(a in cmd for a in p.argv[1:])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st:
                children.setdefault(st[0], []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


_children: dict[int, subprocess.Popen] = {}


def _running(p: Proc) -> bool:
    """Whether a process this very `up` started is still running (its exit code)."""
    child = _children.get(p.pid)
    return child.poll() is None if child is not None else is_ours(p)


def spawn(name: str, argv: list[str], env: dict, log: Path, cwd: Path) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _children[proc.pid] = proc
    st = _stat(proc.pid)
    return Proc(name=name, pid=proc.pid, started=st[1] if st else 0, argv=argv, log=str(log))


def stop(p: Proc, *, grace: float = 20.0) -> str:
    """End one process we started, its group and whatever it spawned."""
    if not is_ours(p):
        return "not running"
    family = [p.pid] + _descendants(p.pid)
    groups = {p.pid}
    for pid in family:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    stamps = {pid: _stat(pid) for pid in family}

    def alive() -> list[int]:
        return [pid for pid in family if stamps[pid] and _stat(pid) == stamps[pid]]

    def signal_all(sig: int) -> None:
        for g in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(g, sig)
        for pid in alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        _reap()
        time.sleep(0.2)
    if alive():
        signal_all(signal.SIGKILL)
        time.sleep(0.5)
        _reap()
        return "killed"
    return "stopped"


def _reap() -> None:
    """Collect our own exited children (when `up` and `down` run in one process)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# --- the Prefect API, by plain HTTP -----------------------------------------------------------


def basic(auth: str) -> str:
    """The Authorization header of a basic-auth string ``user:password``."""
    import base64

    return "Basic " + base64.b64encode(auth.encode()).decode()


def _http(method: str, url: str, body: dict | None = None, timeout: float = 10.0):
    """A JSON request to the stack's own server, with the stack's auth string."""
    import urllib.request  # not at import: it costs the volunteer commands ~10 ms

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    auth = auth_string()
    if auth:
        headers["Authorization"] = basic(auth)
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def healthy(api_url: str) -> bool:
    try:
        return _http("GET", f"{api_url}/health", timeout=3) is True
    except (OSError, ValueError):
        return False


def service_healthy(url: str) -> bool:
    """The ledger service answers ``GET /health`` (no code needed)."""
    try:
        _http("GET", f"{url}/health", timeout=3)
        return True
    except (OSError, ValueError):
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like the servers themselves: a port left in TIME_WAIT by a stack just stopped is
        # free; one that something listens on is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def online_workers(api_url: str) -> int:
    try:
        rows = _http("POST", f"{api_url}/work_pools/{POOL}/workers/filter", {})
    except (OSError, ValueError):
        return 0
    return sum(1 for w in rows or [] if w.get("status") == "ONLINE")


# --- PostgreSQL ---------------------------------------------------------------------------


def ensure_pg_database(server: str, name: str) -> None:
    """CREATE DATABASE ``name`` on ``server`` (a postgresql:// URL) unless it exists."""
    import psycopg
    from psycopg import sql

    base = server.split("://", 1)[1]
    try:
        with psycopg.connect(f"postgresql://{base.rstrip('/')}/postgres", autocommit=True,
                             connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StackError(_("cannot reach PostgreSQL at {url}: {why}").format(
            url=mask(server), why=first)) from None


def migrate_ledger(url: str) -> None:
    from outreach.db import migrate
    from outreach.db.session import make_engine

    eng = make_engine(url)
    try:
        migrate.upgrade(eng)
    finally:
        eng.dispose()


def ledger_is_current(url: str) -> bool:
    from outreach.db import migrate
    from outreach.db.session import make_engine

    eng = make_engine(url)
    try:
        migrate.require_current(eng)
        return True
    except Exception:  # any reason the flows would refuse it; `up` only warns
        return False
    finally:
        eng.dispose()


# --- up / down / status -------------------------------------------------------------------


def environment(stack: Stack, prefect_db_url: str | None, auth: str, *,
                role: str = "client") -> dict:
    """The environment of a process the stack starts, built from nothing: a few things of
    the caller's (PATH, HOME, LANG, LC_*, TZ), the organisation's language and time zone
    (OUTREACH_LANG, OUTREACH_TIMEZONE), the ledger's URL, Prefect's settings, the
    project dir — never OUTREACH_TOKEN, a database password of the caller's shell or
    anything else. ``role``: ``server`` gets the auth string the API checks, ``client``
    (deploy, workers and the flow runs they start) the one it sends, ``service`` (the
    ledger service, which never calls Prefect) neither."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_ON or k.startswith("LC_")}
    home = Path(stack.home)
    env.update({
        "OUTREACH_HOME": str(settings.home().resolve()),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_PROFILES_PATH": str(home / "prefect" / "profiles.toml"),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(stack.port),
        "PREFECT_API_URL": stack.api_url,
        "PREFECT_UI_API_URL": stack.api_url,
        "PREFECT_UI_URL": stack.url,
        "PREFECT_SERVER_LOGGING_LEVEL": os.environ.get("PREFECT_SERVER_LOGGING_LEVEL",
                                                       "WARNING"),
        "OUTREACH_PROJECT_DIR": str(PROJECT_DIR),
        "OUTREACH_DATABASE_URL": stack.ledger,
        "PYTHONUNBUFFERED": "1",
        # The organisation's language and time zone: the forms `prefect deploy` builds,
        # the artifacts the flow runs write, the schedules and "today" (`db.settings`).
        "OUTREACH_LANG": _i18n.wanted(),
        "OUTREACH_TIMEZONE": settings.timezone(),
        # Flow runs keep their return value (counts only) so that `outreach campaign run`
        # can print it when it sends the run to this stack; tasks keep nothing.
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
        # Flow runs say they are alive every minute; `UNRESPONSIVE` marks one that stops
        # (its machine died) Crashed, so that a campaign waiting for its shards fails
        # instead of waiting for ever.
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
    })
    env.setdefault("PATH", os.defpath)
    if role == "server":
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth
        if prefect_db_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_db_url
    elif role == "client":
        env["PREFECT_API_AUTH_STRING"] = auth
    return env


def deploy_file(sdir: Path, env: dict) -> Path:
    """The prefect.yaml to deploy from: the project's, in the language and time zone of
    the stack's processes (``OUTREACH_LANG``, ``OUTREACH_TIMEZONE`` of ``env``), written to
    ``sdir/prefect.yaml`` (`flows.deployfile`; no Prefect imported here)."""
    from outreach.flows import deployfile

    with _i18n.language(env["OUTREACH_LANG"]):
        return deployfile.write(PROJECT_DIR / "prefect.yaml", sdir / "prefect.yaml",
                                timezone=env["OUTREACH_TIMEZONE"])


def outreach_exe() -> list[str]:
    """The `outreach` command of this environment."""
    here = Path(sys.executable).parent / "outreach"
    return [str(here)] if here.exists() else [sys.executable, "-c",
                                              "from outreach.cli.main import run; run()"]


def up(*, port: int = DEFAULT_PORT, workers: int = 1, postgres: bool = False,
       pg_server: str = PG_SERVER, prefect_db: str = PG_PREFECT_DB,
       ledger_db: str = PG_LEDGER_DB, timeout: float = 180.0,
       service_port: int = SERVICE_PORT, say=lambda line: None) -> Stack:
    """Start the stack; on any failure stop what was started and raise StackError."""
    running = load()
    if running and any(is_ours(p) for p in running.procs):
        raise StackError(_("the stack already runs ({url}); `outreach stack down` "
                           "first").format(url=running.url))
    if not port_free(port):
        raise StackError(_("port {port} on 127.0.0.1 is in use; choose another with "
                           "--port").format(port=port))
    if service_port == port or not port_free(service_port):
        raise StackError(_("port {port} on 127.0.0.1 is in use; choose another with "
                           "--service-port").format(port=service_port))
    if workers < 1:
        raise StackError(_("--workers must be at least 1"))
    sdir = stack_dir()
    sdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (sdir / "prefect").mkdir(exist_ok=True)
    for old in sdir.glob("*.log"):
        old.unlink()
    auth = ensure_auth()
    prefect_db_url = None
    if postgres:
        ensure_pg_database(pg_server, prefect_db)
        ensure_pg_database(pg_server, ledger_db)
        host = pg_server.split("://", 1)[1].rstrip("/")
        prefect_db_url = f"postgresql+asyncpg://{host}/{prefect_db}"
        ledger = f"postgresql+psycopg://{host}/{ledger_db}"
        migrate_ledger(ledger)
    else:
        ledger = settings.database_url()
        if not ledger_is_current(ledger):
            say(_("warning: the ledger ({url}) is missing or not upgraded; flow runs will "
                  "fail until `outreach db upgrade`").format(url=mask(ledger)))
    stack = Stack(port=port, url=f"http://127.0.0.1:{port}", home=str(sdir), ledger=ledger,
                  postgres=postgres,
                  prefect_database=mask(prefect_db_url) if prefect_db_url else "sqlite",
                  service_url=f"http://127.0.0.1:{service_port}")
    env = environment(stack, prefect_db_url, auth)
    exe = prefect_exe()
    try:
        stack.timings["server_ready_s"] = _start(
            stack, "server", [exe, "server", "start", "--host", "127.0.0.1", "--port",
                              str(port)], environment(stack, prefect_db_url, auth,
                                                      role="server"),
            lambda: healthy(stack.api_url), N_("the Prefect server"), timeout)
        say(_("server ready at {url} in {s} s").format(url=stack.url,
                                                       s=stack.timings["server_ready_s"]))

        t1 = time.monotonic()
        _ensure_pool(stack, exe, env, sdir, timeout)
        _run(["deploy", [exe, "--no-prompt", "deploy", "--all", "--prefect-file",
                         str(deploy_file(sdir, env))]], env, sdir / "deploy.log",
             timeout)
        try:
            ensure_unresponsive_automation(stack.api_url)
        except (OSError, ValueError) as exc:
            raise StackError(_("could not create the automation {name}: {why}").format(
                name=repr(UNRESPONSIVE), why=exc)) from None
        stack.timings["deploy_s"] = round(time.monotonic() - t1, 1)
        say(_("work pool {pool} and deployments ready in {s} s").format(
            pool=repr(POOL), s=stack.timings["deploy_s"]))

        t2 = time.monotonic()
        hostname = socket.gethostname()
        for i in range(1, workers + 1):
            stack.procs.append(spawn(
                f"worker-{i}", [exe, "worker", "start", "--pool", POOL, "--type", "process",
                                "--name", f"{hostname}-outreach-{i}"],
                env, sdir / f"worker-{i}.log", PROJECT_DIR))
            save(stack)
        while online_workers(stack.api_url) < workers:
            dead = [p for p in stack.procs[1:] if not _running(p)]
            if dead:
                raise StackError(_("a worker stopped while starting; see {log}").format(
                    log=dead[0].log))
            if time.monotonic() - t2 > timeout:
                raise StackError(_("the workers did not come online in {s} s; see {log}")
                                 .format(s=f"{timeout:.0f}", log=stack.procs[-1].log))
            time.sleep(0.5)
        stack.timings["workers_online_s"] = round(time.monotonic() - t2, 1)
        say(_("{n} worker(s) online in {s} s").format(n=workers,
                                                      s=stack.timings["workers_online_s"]))

        stack.timings["service_ready_s"] = _start(
            stack, "service", [*outreach_exe(), "serve", "--host", "127.0.0.1", "--port",
                               str(service_port)], environment(stack, None, auth,
                                                               role="service"),
            lambda: service_healthy(stack.service_url), N_("the ledger service"), timeout)
        say(_("ledger service ready at {url} in {s} s").format(
            url=stack.service_url, s=stack.timings["service_ready_s"]))
    except BaseException:
        for p in reversed(stack.procs):
            stop(p, grace=10)
        stack.procs = []
        save(stack)
        raise
    save(stack)
    return stack


def _start(stack: Stack, name: str, argv: list[str], env: dict, ready, what: str,
           timeout: float) -> float:
    """Start one long-running process (log ``<name>.log``), wait until ``ready()``; refuse
    when it stops or takes longer than ``timeout``. Returns the seconds it took."""
    t0 = time.monotonic()
    proc = spawn(name, argv, env, Path(stack.home) / f"{name}.log", PROJECT_DIR)
    stack.procs.append(proc)
    save(stack)
    while not ready():
        if not _running(proc):
            raise StackError(_("{what} stopped while starting; see {log}").format(
                what=_(what), log=proc.log))
        if time.monotonic() - t0 > timeout:
            raise StackError(_("{what} did not come up in {s} s; see {log}").format(
                what=_(what), s=f"{timeout:.0f}", log=proc.log))
        time.sleep(0.3)
    return round(time.monotonic() - t0, 1)


def _run(spec: list, env: dict, log: Path, timeout: float) -> None:
    what, argv = spec
    with open(log, "ab") as out:
        try:
            rc = subprocess.run(argv, env=env, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            raise StackError(_("{what} took longer than {s} s; see {log}").format(
                what=what, s=f"{timeout:.0f}", log=log)) from None
    if rc != 0:
        raise StackError(_("{what} failed (exit {rc}); see {log}").format(what=what, rc=rc,
                                                                          log=log))


def _ensure_pool(stack: Stack, exe: str, env: dict, sdir: Path, timeout: float) -> None:
    import urllib.error

    try:
        _http("GET", f"{stack.api_url}/work_pools/{POOL}")
        return
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise StackError(_("the Prefect API answered {code} for the work pool").format(
                code=exc.code)) from None
    _run(["work pool", [exe, "work-pool", "create", POOL, "--type", "process"]], env,
         sdir / "deploy.log", timeout)


def down(*, say=lambda line: None) -> int:
    """Stop what `up` started (workers first); returns how many processes were ended."""
    stack = load()
    if stack is None or not stack.procs:
        say(_("the stack is not running"))
        return 0
    ended = 0
    for p in sorted(stack.procs, key=lambda p: p.name == "server"):
        how = stop(p)
        if how != "not running":
            ended += 1
        say(_("{name} (pid {pid}): {how}").format(name=p.name, pid=p.pid, how=_(STOPPED[how])))
    stack.procs = []
    save(stack)
    return ended


#: What `stop` did, as `down` says it.
STOPPED = {"stopped": N_("stopped"), "killed": N_("killed"), "not running": N_("not running")}


def status_lines() -> list[str]:
    stack = load()
    if stack is None or not stack.procs:
        return [_("the stack is not running (`outreach stack up`)")]
    lines = []
    up_ = healthy(stack.api_url)
    lines.append(_("Prefect UI:  {url}   ({state})").format(
        url=stack.url, state=_("healthy") if up_ else _("NOT answering")))
    lines.append(_("API:         {url}").format(url=stack.api_url))
    lines.append(_("auth string: in {path} (the UI asks for it; keep it private)").format(
        path=auth_path()))
    if stack.service_url:
        ok = _("healthy") if service_healthy(stack.service_url) else _("NOT answering")
        lines.append(_("ledger service: {url}   ({state})").format(url=stack.service_url,
                                                                 state=ok))
    lines.append(_("ledger:      {url}").format(url=mask(stack.ledger)))
    lines.append(_("Prefect db:  {url}").format(url=stack.prefect_database))
    for p in stack.procs:
        state = _("running") if is_ours(p) else _("NOT running")
        lines.append(_("{name} pid {pid} {state} log {log}").format(
            name=f"{p.name:<12}", pid=f"{p.pid:<8}", state=f"{state:<12}", log=p.log))
    if up_:
        lines.append(_("workers online in pool {pool}: {n}").format(
            pool=repr(POOL), n=online_workers(stack.api_url)))
    return lines


# --- the commands -------------------------------------------------------------------------


def _fail(exc: StackError) -> None:
    typer.echo(f"outreach: {exc}", err=True)
    raise typer.Exit(code=1)


@stack_app.command("up")
def up_cmd(
    postgres: Annotated[bool, typer.Option(
        "--postgres", help=_("Prefect's database and the ledger on PostgreSQL "
                             "(databases created if missing, the ledger upgraded); "
                             "two workers unless --workers says otherwise."))] = False,
    port: Annotated[int, typer.Option(help=_("Port of the Prefect server and UI."))]
    = DEFAULT_PORT,
    workers: Annotated[Optional[int], typer.Option(
        help=_("How many workers to start on the pool (default 1, 2 with --postgres)."))]
    = None,
    pg_server: Annotated[str, typer.Option(
        help=_("With --postgres: the PostgreSQL server, postgresql://user@host:port."))]
    = PG_SERVER,
    prefect_db: Annotated[str, typer.Option(
        help=_("With --postgres: the database Prefect keeps its runs in."))] = PG_PREFECT_DB,
    ledger_db: Annotated[str, typer.Option(
        help=_("With --postgres: the database of the ledger."))] = PG_LEDGER_DB,
    timeout: Annotated[float, typer.Option(
        help=_("Seconds to wait for the server, the deployments and the workers."))] = 180.0,
    service_port: Annotated[int, typer.Option(
        help=_("Port of the ledger service (`outreach serve`) on 127.0.0.1."))]
    = SERVICE_PORT,
) -> None:
    """Start the Prefect server (with its UI) on 127.0.0.1, deploy every flow of
    prefect.yaml, start the worker(s) and the ledger service. Logs and pids go to
    $OUTREACH_HOME/stack/; the auth string the UI and API ask for is in
    $OUTREACH_HOME/stack/auth (0600).

    \b
    Examples:
      outreach stack up
      outreach stack up --port 4300
      outreach stack up --postgres            # both databases on PostgreSQL, two workers
    """
    n = workers if workers is not None else (2 if postgres else 1)
    try:
        stack = up(port=port, workers=n, postgres=postgres, pg_server=pg_server,
                   prefect_db=prefect_db, ledger_db=ledger_db, timeout=timeout,
                   service_port=service_port, say=typer.echo)
    except StackError as exc:
        _fail(exc)
    typer.echo(_("the stack runs: open {url} and log in with the auth string in {auth}; "
                 "ledger service at {service}; logs in {logs}; `outreach stack down` stops "
                 "it").format(url=stack.url, auth=auth_path(), service=stack.service_url,
                              logs=stack.home))


@stack_app.command("down")
def down_cmd() -> None:
    """Stop the processes `outreach stack up` started, and only those."""
    down(say=typer.echo)


@stack_app.command("status")
def status_cmd() -> None:
    """What runs, the UI's address and where the logs are."""
    for line in status_lines():
        typer.echo(line)
