"""Two placeholders swapped in one Chinese message are caught (issue 24): the catalog
check compared the sorted names only, so "{low} 至 {high}" written "{high} 至 {low}"
passed. Every translation keeps the msgid's order of placeholders unless it is listed in
`cli.catalog.REORDERED` with the order Chinese needs."""

from __future__ import annotations

import copy

import outreach.cli.catalog as catalog


def _swapped(po, msgid: str):
    """The catalog with the first two placeholders of ``msgid``'s translation swapped."""
    po = copy.deepcopy(po)
    entry = po.get(msgid)
    a, b = catalog._PLACEHOLDER.findall(entry.string)[:2]
    entry.string = entry.string.replace(a, "\0").replace(b, a).replace("\0", b)
    return po


def _order_problems(po, monkeypatch) -> list[str]:
    monkeypatch.setattr(catalog, "read", lambda path=catalog.PO: po)
    return [p for p in catalog.problems() if "another order" in p]


def test_todays_catalog_keeps_every_placeholder_order(monkeypatch):
    assert _order_problems(catalog.read(), monkeypatch) == []


def test_a_swap_in_an_ordinary_message_is_caught(monkeypatch):
    msgid = "{what} must be between {low} and {high}, not {value}"
    po = catalog.read()
    assert po.get(msgid) is not None and po.get(msgid).string
    problems = _order_problems(_swapped(po, msgid), monkeypatch)
    assert len(problems) == 1 and "must be between" in problems[0]


def test_a_swap_in_a_message_chinese_reorders_is_caught_too(monkeypatch):
    msgid = "{role} of {branch}"
    assert msgid in catalog.REORDERED
    problems = _order_problems(_swapped(catalog.read(), msgid), monkeypatch)
    assert len(problems) == 1 and "{role} of {branch}" in problems[0]


def test_the_order_is_read_by_name():
    assert catalog._order(["{a}", "{b:,}", "{a}", "%(c)s", "{d!r}"]) == ("a", "b", "c", "d")
