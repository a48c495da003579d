"""The Chinese catalog: complete, not fuzzy, placeholders kept, compiled; the language
chosen from the environment; Click's and Typer's words still theirs."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from outreach import i18n
import outreach.cli.catalog as catalog


def test_every_message_has_a_chinese_translation_and_the_mo_is_compiled():
    assert catalog.problems() == []


def test_the_catalog_is_not_empty_and_chinese():
    po = catalog.read()
    texts = [m.string for m in po if m.id and isinstance(m.string, str)]
    assert len(texts) > 100
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) or not any(c.isalpha() for c in t)
               or t.startswith(("{", "[")) for t in texts), "an entry is not Chinese"


def test_clicks_and_typers_words_are_still_theirs():
    """i18n/click_words.py names Click's and Typer's msgids: each must still be one of
    theirs (extracted from their installed source the way Babel extracts ours), or a
    translated word would silently stop being used."""
    import click
    import typer
    from babel.messages.extract import extract_python

    theirs: set[str] = set()
    plain = ""
    for pkg in (click, typer):
        for path in Path(pkg.__file__).parent.glob("*.py"):
            with open(path, "rb") as fh:
                for _line, _func, message, _comments in extract_python(
                        fh, {"_": None, "ngettext": (1, 2)}, [], {}):
                    if isinstance(message, str):
                        theirs.add(message)
                    elif message:
                        theirs.update(m for m in message if m)
            if pkg is typer:
                plain += path.read_text(encoding="utf-8")
    ours = [m.id for m in catalog.template()
            if m.locations and m.locations[0][0] == "i18n/click_words.py"]
    assert len(ours) > 50
    for word in ours:
        first = word[0] if isinstance(word, tuple) else word
        assert first in theirs or f'help="{first}"' in plain, first


@pytest.mark.parametrize("env, want", [
    ({}, "en"),
    ({"OUTREACH_LANG": "zh_CN"}, "zh_CN"),
    ({"OUTREACH_LANG": "zh"}, "zh_CN"),
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LC_ALL": "zh_CN.utf8", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"OUTREACH_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"OUTREACH_LANG": "klingon", "LANG": "zh_CN.UTF-8"}, "zh_CN"),
])
def test_the_language_comes_from_outreach_lang_then_the_locale(env, want):
    assert i18n.wanted(env) == want


def test_a_block_speaks_its_own_language_and_the_process_keeps_its_own():
    msg = "interrupted; nothing was written"
    assert i18n.current() == "en"
    with i18n.language("zh_CN.UTF-8"):
        assert i18n._(msg) == "已中断；未写入任何内容"
        with i18n.language(None):  # unknown / none: the process's language
            assert i18n._(msg) == msg
    assert i18n._(msg) == msg


def test_use_refuses_an_unknown_language():
    with pytest.raises(ValueError):
        i18n.use("fr")


def test_help_texts_are_taken_from_the_catalog_not_from_an_english_copy():
    """Command help is the docstring's translation: the catalog holds every docstring
    exactly as Typer reads it."""
    from outreach.cli.main import build, commands

    po = catalog.read()
    for callback in commands(build()):
        doc = inspect.getdoc(callback)
        if doc:
            assert po.get(doc) is not None, callback.__qualname__


def _binds_underscore(tree) -> list[int]:
    """Lines where a module rebinds ``_`` (a loop variable, an unpacking, an assignment)."""
    import ast

    lines = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # its own scope: harmful only if the comprehension itself calls _()
            if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                   and c.func.id == "_" for c in ast.walk(node)):
                targets = [g.target for g in node.generators]
        elif isinstance(node, ast.For):
            targets = [node.target]
        elif isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and n.id == "_":
                    lines.append(getattr(n, "lineno", 0))
    return lines


def test_no_module_that_translates_rebinds_the_underscore():
    """``for _ in …`` in a module that imports ``_`` from i18n turns every later ``_("…")``
    in that function into a crash."""
    import ast

    bad = []
    for folder in catalog.SOURCES:
        for path in (catalog.ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imports = any(isinstance(n, ast.ImportFrom) and n.module == "i18n"
                          and any(a.name == "_" and a.asname is None for a in n.names)
                          for n in ast.walk(tree))
            if imports:
                bad += [f"{path.relative_to(catalog.ROOT)}:{n}" for n in _binds_underscore(tree)]
    assert bad == []
