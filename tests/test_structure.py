"""The house's structure, read from the imports (issue 25): no circles between modules, no
arrow that runs back up a floor, no ``_private`` name taken from another module, and no
module in ``tasks/`` over 700 lines. Imports inside functions count too: a lazy import is
still a dependency."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("cli", "db", "flows", "i18n", "seed", "service", "tasks")

#: Who may import whom, floor by floor (a package imports itself freely). The concepts of
#: `tasks/` are floors of their own: the kernel at the bottom, then who may act (access),
#: the ledger, the task engine they share (work), and the concepts built on it.
ALLOWED = {
    "i18n": set(),
    "db": {"i18n"},
    "tasks.kernel": {"db", "i18n"},
    "tasks.access": {"db", "i18n", "tasks.kernel"},
    "tasks.ledger": {"db", "i18n", "tasks.kernel", "tasks.access"},
    "tasks.work": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger"},
    "tasks.campaigns": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger",
                        "tasks.work"},
    "tasks.meetings": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger",
                       "tasks.work"},
    "tasks.care": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger", "tasks.work"},
    "tasks.scorecard": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger",
                        "tasks.work", "tasks.campaigns"},
    "tasks.links": {"db", "i18n", "tasks.kernel", "tasks.access", "tasks.ledger",
                    "tasks.work", "tasks.meetings"},
}
TASKS = {p for p in ALLOWED if p.startswith("tasks.")}
# Above the domain: the seed, the flows and the service use tasks/; the CLI uses them all.
ALLOWED["seed"] = {"db", "i18n", *TASKS}
ALLOWED["flows"] = {"db", "i18n", *TASKS}
ALLOWED["service"] = {"db", "i18n", *TASKS}
ALLOWED["cli"] = {"db", "i18n", "seed", "flows", "service", *TASKS}


def _modules() -> dict[str, Path]:
    out = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            name = "outreach." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _owner(target: str) -> str | None:
    """The module of ours a dotted import target names (a name in a module → the module)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _imports(name: str) -> list[tuple[str, str, int]]:
    """(module imported, name taken, line) of every import of ours in a module."""
    out = []
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(f"{node.module}.{a.name}", a.name, node.lineno) for a in node.names]
    return [(t, n, line) for t, n, line in out if t.startswith("outreach.")]


def _edges() -> dict[str, set[str]]:
    edges = collections.defaultdict(set)
    for name in MODULES:
        for target, _n, _line in _imports(name):
            owner = _owner(target)
            # a package's __init__ is not an arrow from its own modules
            if owner and owner != name and not name.startswith(owner + "."):
                edges[name].add(owner)
    return edges


def _floor(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[1:3]) if parts[1] == "tasks" and len(parts) > 3 else parts[1]


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    for start in MODULES:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    part.append(top)
                    if top == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_no_circles_between_modules():
    assert _circles(_edges()) == []


def test_the_circle_finder_sees_a_circle():
    edges = {m: set(t) for m, t in _edges().items()}
    a, b = "outreach.tasks.kernel.rules", "outreach.tasks.work.rules"
    edges.setdefault(a, set()).add(b)
    assert any(a in c and b in c for c in _circles(edges))


def test_no_arrow_runs_up_a_floor():
    upward = sorted(f"{m} -> {t}" for m, targets in _edges().items() for t in targets
                    if _floor(t) != _floor(m) and _floor(t) != "tasks"
                    and _floor(t) not in ALLOWED[_floor(m)])
    assert upward == []


def test_every_module_lives_on_a_known_floor():
    assert {_floor(m) for m in MODULES} - {"tasks"} <= set(ALLOWED)


def test_no_private_name_is_taken_from_another_module():
    taken = sorted(f"{m}:{line} {t}" for m in MODULES for t, n, line in _imports(m)
                   if n.startswith("_") and n != "_" and not n.startswith("__"))
    assert taken == []


def test_no_module_of_tasks_is_over_700_lines():
    long = {m: n for m, p in MODULES.items() if m.startswith("outreach.tasks.")
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > 700}
    assert long == {}
