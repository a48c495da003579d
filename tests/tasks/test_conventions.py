"""Who commits, visibly: the transaction convention of `tasks/`, checked on the source.

* A function that takes a Session flushes; the caller (a CLI command, a Prefect task, the
  ledger service) owns the transaction. It never commits, rolls back or begins one
  (a savepoint, ``begin_nested``, is the caller's transaction and allowed).
* A set-based job that takes an Engine owns its transactions (one per batch) and lives in
  a job module, ``tasks/<concept>/*_jobs.py``, whose docstring says so in a ``Transactions:`` line.
* The SQL dialect's differences live in `db.dialect`, as helpers named for what differs;
  no module of `tasks/` (nor of its concept packages) asks which dialect it speaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TASKS = Path(__file__).resolve().parents[2] / "tasks"
#: Every module of `tasks/` and of its concept packages (`tasks/ledger/`, `tasks/work/` …).
MODULES = sorted(p for p in TASKS.rglob("*.py") if p.name != "__init__.py")


def _id(path: Path) -> str:
    return path.relative_to(TASKS).with_suffix("").as_posix()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _functions(module: ast.Module):
    for node in ast.walk(module):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _takes(fn: ast.FunctionDef, name: str) -> bool:
    """Does ``fn`` have a parameter annotated ``name`` (alone or in a union)?"""
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    for a in args:
        if a.annotation is None:
            continue
        parts = {p.strip().split(".")[-1] for p in ast.unparse(a.annotation).strip("'\"")
                 .split("|")}
        if name in parts:
            return True
    return False


#: Calls that own a transaction: methods ``x.commit()``, ``x.rollback()``, ``x.begin()``;
#: functions ``session_scope(...)``, ``writer(...)`` (db.session), ``Session(...)``.
METHODS = {"commit", "rollback", "begin"}
FUNCTIONS = {"session_scope", "writer", "Session"}


def _called(fn: ast.FunctionDef) -> set[str]:
    out = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in METHODS:
                out.add(f.attr)
            elif isinstance(f, ast.Name) and f.id in FUNCTIONS:
                out.add(f.id)
    return out


def is_job_module(path: Path) -> bool:
    return path.stem.endswith("_jobs")


def test_there_are_job_modules_and_session_modules():
    jobs = [p.stem for p in MODULES if is_job_module(p)]
    assert {"plan_jobs", "followup_jobs"} <= set(jobs)
    assert len(MODULES) > len(jobs) + 5


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_functions_taking_a_session_never_own_the_transaction(path):
    bad = [f"{path.stem}.{fn.name} calls {sorted(_called(fn))}"
           for fn in _functions(_tree(path))
           if _takes(fn, "Session") and _called(fn)]
    assert not bad, "a Session function must flush and leave commit to its caller: " + \
        "; ".join(bad)


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_functions_taking_an_engine_live_in_job_modules(path):
    engine_fns = [fn.name for fn in _functions(_tree(path)) if _takes(fn, "Engine")]
    if is_job_module(path):
        assert engine_fns, f"{path.name} has no job taking an Engine"
    else:
        assert not engine_fns, (f"{path.stem}: {engine_fns} take an Engine (own their "
                                f"transactions): move them to a tasks/<concept>/*_jobs.py module")


@pytest.mark.parametrize("path", [p for p in MODULES if is_job_module(p)],
                         ids=_id)
def test_job_modules_say_who_commits(path):
    doc = ast.get_docstring(_tree(path)) or ""
    assert "Transactions:" in doc


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_dialect_differences_live_in_db_dialect(path):
    source = path.read_text()
    for sign in ("dialect.name", "driver_connection", "pg_advisory", "is_pg",
                 '"postgresql"', "'postgresql'", '"sqlite"', "'sqlite'"):
        assert sign not in source, (f"{_id(path)} uses {sign}: name the choice in db.dialect "
                                    f"(e.g. hashes_big_sets, sql_true, tune_transaction)")


def test_the_check_finds_a_session_function_that_commits():
    """The checks above can fail: a planted commit and a planted Engine job are found."""
    planted = ast.parse(
        "def save(session: Session, x: int) -> None:\n    session.commit()\n"
        "def job(engine: Engine | None) -> None:\n    pass\n"
        "def ok(session: Session) -> None:\n    with session.begin_nested():\n        pass\n")
    fns = {fn.name: fn for fn in _functions(planted)}
    assert _takes(fns["save"], "Session") and _called(fns["save"]) == {"commit"}
    assert _takes(fns["job"], "Engine") and not _takes(fns["ok"], "Engine")
    assert _takes(fns["ok"], "Session") and not _called(fns["ok"])
