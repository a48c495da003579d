"""The README and docs/ cannot rot: every `outreach …` line they show names a command that
exists, with options that command has; every `make` target and `python -m` module they name
exists; every relative link leads to a file; README stays a door (≤ 150 lines), and every
page of docs/ has its Chinese counterpart in docs/zh/.

Checked against the Click command tree Typer builds (no `--help` in subprocesses: fast).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from outreach.cli.main import build

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted((DOCS / "zh").glob("*.md"))]
TREE = typer.main.get_command(build())

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)?)`(?!`)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SHELL_OPS = re.compile(r"\s(?:&&|\|\||;|\|)\s")


def snippets(text: str) -> list[str]:
    """The lines of code blocks, and code spans (a span may wrap onto a second line)."""
    out: list[str] = []
    for block in FENCE.findall(text):
        out += block.replace("\\\n", " ").splitlines()
    prose = FENCE.sub("", text)
    out += [s.replace("\n", " ") for s in SPAN.findall(prose)]
    return out


def commands(snippet: str, program: str) -> list[list[str]]:
    """Each command line in ``snippet`` that runs ``program`` (after `VAR=value` prefixes or
    a path like `.venv/bin/`), as its words after the program's name."""
    out = []
    for part in SHELL_OPS.split(f" {snippet} "):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:  # an unclosed quote in prose: words as they stand
            words = part.split()
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
            words = words[1:]
        if words and words[0].rsplit("/", 1)[-1] == program:
            out.append(words[1:])
    return out


def check_outreach(words: list[str]) -> list[str]:
    """What is wrong with `outreach <words>`: unknown commands, options, choices."""
    cmd: click.Command = TREE
    path = ["outreach"]
    positional = 0
    problems = []
    takes_value = False
    for word in words:
        word = word.strip("[]")
        if takes_value:  # the value of the option before
            takes_value = False
            continue
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            options = {o: p for p in cmd.params if isinstance(p, click.Option)
                       for o in (*p.opts, *p.secondary_opts)}
            if name not in options and name != "--help":
                problems.append(f"{' '.join(path)}: no option {name}")
            elif name in options and "=" not in word:
                takes_value = not (options[name].is_flag or options[name].count)
            continue
        if word.startswith("-") or not word or word in {"…", "...", "|"}:
            continue
        if isinstance(cmd, click.Group):
            if word not in cmd.commands:
                problems.append(f"{' '.join(path)}: no command {word!r}")
                break
            cmd = cmd.commands[word]
            path.append(word)
            continue
        # an argument of a leaf command: a fixed choice must be one of its choices
        args = [p for p in cmd.params if isinstance(p, click.Argument)]
        if positional < len(args) and isinstance(args[positional].type, click.Choice):
            alternatives = word.split("|")
            wrong = [w for w in alternatives if w not in args[positional].type.choices]
            if wrong:
                problems.append(f"{' '.join(path)}: {wrong[0]!r} is not a choice")
        positional += 1
    return problems


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", text, re.M))


def check_page(text: str) -> list[str]:
    problems = []
    targets = make_targets()
    for snippet in snippets(text):
        for words in commands(snippet, "outreach"):
            problems += check_outreach(words)
        for words in commands(snippet, "make"):
            problems += [f"make: no target {w}" for w in words
                         if not w.startswith("-") and "=" not in w and w not in targets]
        for words in commands(snippet, "python"):
            if words[:1] == ["-m"] and len(words) > 1 and words[1] != "pytest":
                if importlib.util.find_spec(words[1]) is None:
                    problems.append(f"python -m {words[1]}: no such module")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_option_named_exists(page):
    assert check_page(page.read_text(encoding="utf-8")) == []


def link_problems(page: Path) -> list[str]:
    """Relative links of ``page`` that lead nowhere: a missing file or heading."""
    problems = []
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            problems.append(f"{page.name}: {target}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{page.name}: {target}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(page):
    assert link_problems(page) == []


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces → -."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_the_readme_is_a_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    assert "docs/zh/" in text and re.search(r"[\u4e00-\u9fff]", text)
    image = re.search(r"!\[[^\]]*\]\((docs/images/[^)]+\.png)\)", text)
    assert image, "the README shows a screenshot from docs/images/"
    assert (ROOT / image[1]).stat().st_size < 300_000


def test_every_page_has_its_chinese_counterpart():
    english = {p.name for p in DOCS.glob("*.md")}
    chinese = {p.name for p in (DOCS / "zh").glob("*.md")}
    assert english == chinese
    assert {"coordinators.md", "volunteers.md", "operators.md", "building.md",
            "benchmarks.md", "reliability.md"} <= english
    for name in chinese:
        assert re.search(r"[\u4e00-\u9fff]", (DOCS / "zh" / name).read_text(encoding="utf-8"))


def test_dated_figures_live_only_in_the_benchmarks():
    """A date like 2026-11-30 next to a measurement (s, ms, MB, x) only in benchmarks.md."""
    measured = re.compile(r"20\d\d-\d\d-\d\d[^\n]*?\d(?:\.\d+)? ?(?:s|ms|MB|GB|x)\b")
    for page in PAGES:
        if page.name == "benchmarks.md":
            continue
        assert not measured.search(page.read_text(encoding="utf-8")), page


# --- the check itself can fail ------------------------------------------------------------

@pytest.mark.parametrize("sample, wrong", [
    ("```\noutreach task frobnicate 42\n```", "no command 'frobnicate'"),
    ("`outreach tasks --colour red`", "no option --colour"),
    ("```\noutreach campaign run survey --period 2026-11 --perod 2026-12\n```",
     "no option --perod"),
    ("`outreach report weather`", "'weather' is not a choice"),
    ("```\nOUTREACH_LANG=zh_CN .venv/bin/outreach membres import a.csv\n```",
     "no command 'membres'"),
    ("`make tset`", "no target tset"),
    ("`python -m bench.bench_nothing`", "no such module"),
])
def test_a_made_up_command_or_option_is_caught(sample, wrong):
    problems = check_page(sample)
    assert problems and wrong in problems[0], problems


def test_a_link_to_nowhere_is_caught(tmp_path):
    (tmp_path / "a.md").write_text("# A page\n\n## Who saw what\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text("[ok](a.md#who-saw-what) [ok](#b) [web](https://example.org)\n# B\n"
                    "[gone](c.md) [no heading](a.md#who-saw-whom)\n", encoding="utf-8")
    assert link_problems(page) == ["b.md: c.md", "b.md: a.md#who-saw-whom"]


def test_real_commands_pass():
    sample = """
```bash
outreach campaign run phone_visit --period 2026-11 --branch North   # a comment --nope
outreach serve [--host 127.0.0.1] [--port 8765]
make test-fast && outreach --help
```
and `outreach report coverage --format xlsx --output c.xlsx`, `outreach db
backup --force`, `python -m tests.reliability.load`.
"""
    assert check_page(sample) == []
