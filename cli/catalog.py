"""The Chinese catalog's upkeep (``make translations``) and its check (the test suite).

``python -m outreach.cli.catalog check``  every extracted message has a translation, none fuzzy,
                                  placeholders kept, the compiled .mo up to date;
``python -m outreach.cli.catalog fill F.json …``  put translations ({"msgid": "译文"}, for a
                                  pgettext message {"context\u0004msgid": …}) into the .po.

Needs Babel (a development dependency); the product itself reads the compiled .mo with
the standard library's gettext. It lives beside the CLI, not in `outreach.i18n`: the
commands' help comes from their docstrings, which it finds in the command tree, and the
catalog package that every layer uses imports nothing of ours.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import sys
from pathlib import Path

from outreach.i18n import DOMAIN, LOCALEDIR

ROOT = Path(__file__).resolve().parent.parent
#: The folders whose words people read.
SOURCES = ("cli", "tasks", "db", "flows", "service", "seed", "i18n")
#: Where the Jinja2 templates are (their ``_()`` calls are messages too).
TEMPLATES = "**/templates/**.html"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
PO = LOCALEDIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
#: In a JSON of translations, "context\u0004msgid" names a pgettext message (gettext's own
#: separator).
CONTEXT_SEPARATOR = "\x04"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)[sd]")


def _command_docs() -> dict[str, list[tuple[int, str]]]:
    """The help texts Typer takes from docstrings: every command of the whole app, by the
    file that defines its function."""
    from outreach.cli.main import build, commands

    out: dict[str, list[tuple[int, str]]] = {}
    for callback in commands(build()):
        doc = inspect.getdoc(callback)
        if doc:
            source = inspect.unwrap(callback)  # @edge wraps: the file that defines it
            where = Path(inspect.getsourcefile(source)).resolve().as_posix()
            out.setdefault(where, []).append((source.__code__.co_firstlineno, doc))
    return out


_DOCS: dict[str, list[tuple[int, str]]] | None = None


def extract(fileobj, keywords, comment_tags, options):
    """Babel extraction method: the gettext calls of a Python file, and the docstrings of
    the CLI's commands defined in it (their help)."""
    from babel.messages.extract import extract_python

    global _DOCS
    data = fileobj.read()
    yield from extract_python(io.BytesIO(data), keywords, comment_tags, options)
    name = Path(getattr(fileobj, "name", "")).resolve().as_posix()
    if "/cli/" in name:
        if _DOCS is None:
            _DOCS = _command_docs()
        for lineno, doc in _DOCS.get(name, []):
            yield lineno, None, doc, []


def template():
    """A fresh catalog of every message in the sources (what `make translations`
    extracts)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    cat = Catalog(domain=DOMAIN)
    # The phone pages' templates (service/templates/) as i18n/babel.cfg maps them.
    method_map = [("**.py", "outreach.cli.catalog.extract"), (TEMPLATES, "jinja2")]
    options_map = {TEMPLATES: {"extensions": "jinja2.ext.i18n"}}
    for folder in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
                str(ROOT / folder), method_map, options_map, keywords=KEYWORDS):
            cat.add(message, None, [(f"{folder}/{filename}", lineno)], context=context)
    return cat


def read(path: Path = PO):
    from babel.messages.pofile import read_po

    with open(path, "rb") as fh:
        return read_po(fh, locale="zh_CN")


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message) -> tuple[str, ...]:
    s = message.string
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


#: The translations whose placeholders come in another order than the English ones (Chinese
#: puts a place before a role, a time before a count …): msgid → the order of first
#: appearance in the translation. Every other translation keeps the msgid's order, so that
#: two placeholders swapped in one translation ("{branch} 的 {role}" for "{role} 的
#: {branch}") are caught: the names alone are the same.
REORDERED: dict[str, tuple[str, ...]] = {
    "follow-up {today}: {expired} expired, {failed} failed, {unreachable} members "
    "unreachable, {escalations} escalations, {released} released from inactive volunteers, "
    "{assigned} assigned, {overdue} overdue tasks with {volunteers} volunteers":
        ("today", "expired", "failed", "unreachable", "escalations", "released", "assigned",
         "volunteers", "overdue"),
    "{period} ({first} to {last}): {n} members with no organisational life in the last "
    "{months} months": ("period", "first", "last", "months", "n"),
    "member {id}: {role} in {branch}": ("id", "branch", "role"),
    "member {id}: {role} in {branch} (unchanged)": ("id", "branch", "role"),
    "contribution {id}: member {member} {kind} on {day}": ("id", "member", "day", "kind"),
    "{count} members without organisational life in the last {months} months":
        ("months", "count"),
    "{role} of {branch}": ("branch", "role"),
    "answer {key} does not fit outcome {outcome} of a {kind} task (answers it takes: {keys})":
        ("key", "kind", "outcome", "keys"),
    "{n} of {of} shards did not complete (shard {first}: {state}); run the campaign again: "
    "it plans what is left": ("of", "n", "first", "state"),
    "organisational life: {behind} branches behind, {created} make-up tasks created for "
    "{meetings} meetings, {lonely} members without organisational life for {months} months":
        ("behind", "meetings", "created", "lonely", "months"),
}


def _order(placeholders: list[str]) -> tuple[str, ...]:
    """The names of ``placeholders`` in the order they first appear (``{n:,}`` → ``n``)."""
    out: list[str] = []
    for p in placeholders:
        name = re.split(r"[:!}]", p.lstrip("{").replace("%(", "", 1), maxsplit=1)[0]
        name = name.split(")")[0]
        if name not in out:
            out.append(name)
    return tuple(out)


def problems() -> list[str]:
    """Everything wrong with the Chinese catalog, one line each."""
    out = []
    po = read()
    for m in template():
        if not m.id:
            continue
        t = po.get(m.id, context=m.context)
        key = _ids(m)[0] if m.context is None else f"{m.context}|{_ids(m)[0]}"
        if t is None or not all(_strings(t)):
            out.append(f"missing: {key!r}")
        elif t.fuzzy:
            out.append(f"fuzzy: {key!r}")
        else:
            found = _PLACEHOLDER.findall(_ids(m)[-1])
            want = sorted(found)
            order = REORDERED.get(_ids(m)[-1], _order(found))
            for s in _strings(t):
                if sorted(_PLACEHOLDER.findall(s)) != want:
                    out.append(f"placeholders differ: {key!r} -> {s!r}")
                elif _order(_PLACEHOLDER.findall(s)) != order:
                    out.append(f"placeholders in another order: {key!r} -> {s!r} (if "
                               f"Chinese needs that order, list it in outreach.cli.catalog.REORDERED)")
    if not MO.exists() or _compiled(MO) != _compiled(po):
        out.append(f"{MO.name} does not hold what {PO.name} says: run make translations")
    return out


def _compiled(source) -> dict:
    """What gettext will read: the .mo's table, or the table a .po compiles to."""
    import gettext

    if isinstance(source, Path):
        with open(source, "rb") as fh:
            table = dict(gettext.GNUTranslations(fh)._catalog)
    else:
        from babel.messages.mofile import write_mo

        buf = io.BytesIO()
        write_mo(buf, source)
        buf.seek(0)
        table = dict(gettext.GNUTranslations(buf)._catalog)
    table.pop("", None)  # the header (dates differ)
    return table


def fill(files: list[str]) -> int:
    """Put translations from JSON files into the .po (clearing fuzzy); returns how many."""
    from babel.messages.pofile import write_po

    po = read()
    po.fuzzy = False  # the header: `pybabel compile` skips a catalog marked fuzzy
    po.project, po.version = "outreach", "0"
    po.copyright_holder = po.last_translator = "outreach"
    po.header_comment = ("# outreach: the Chinese catalog (glossary: PRODUCT.md, 中文词汇).\n"
                         "# Kept by `make translations`; translations from the developers.")
    n = 0
    for f in files:
        for msgid, text in json.loads(Path(f).read_text(encoding="utf-8")).items():
            context, _sep, msgid = msgid.rpartition(CONTEXT_SEPARATOR)
            m = po.get(msgid, context=context or None)
            if m is None or not text:
                continue
            if isinstance(m.id, tuple):
                m.string = (text,) * po.num_plurals
            else:
                m.string = text
            m.flags.discard("fuzzy")
            n += 1
    with open(PO, "wb") as fh:
        write_po(fh, po, width=100, no_location=True)
    return n


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} problem(s)")
        return 1 if found else 0
    if argv[:1] == ["fill"]:
        print(f"{fill(argv[1:])} translation(s) filled")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
