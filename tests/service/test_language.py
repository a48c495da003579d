"""The ledger service answers each caller in their language: the volunteer's CLI sends its
own (``Accept-Language``), the service speaks it for that request only (a context
variable), and the one-line error the volunteer sees is the one a Chinese CLI prints
locally. A stand-in catalog keeps these tests independent of the shipped translations."""

from __future__ import annotations

import gettext

import pytest

from outreach import i18n
from outreach.service.common import language_of
from tests.cli.helpers import outreach
from tests.service.test_remote_cli import remote
from tests.service.test_service import call, one_line_error

#: The few messages these tests meet, in Chinese.
ZH = {
    "task {id} is not yours": "任务 {id} 不是您的",
    "no task with id {id}": "未找到编号为 {id} 的任务",
    "unknown status {value}; one of: {codes}": "未知的状态 {value}；可选：{codes}",
    "wrong access code": "访问码不对",
}


class StandIn(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return ZH.get(message, message)


@pytest.fixture
def chinese(monkeypatch):
    """A Chinese catalog of `ZH` in place of the compiled one (English stays English)."""
    monkeypatch.setitem(i18n._catalogs, "zh_CN", StandIn())


@pytest.mark.parametrize("header, lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"), ("zh_CN", "zh_CN"), ("zh", "zh_CN"),
    ("en-US,en;q=0.9", "en"), ("fr-FR, zh;q=0.5", "zh_CN"), ("en;q=0.4, zh-CN;q=0.8", "zh_CN"),
    ("fr, de", None), ("", None), (None, None), ("zh;q=abc, en", "en"),
])
def test_the_accept_language_header_picks_a_language_outreach_speaks(header, lang):
    assert language_of(header) == lang


def test_the_service_answers_errors_in_the_callers_language(world, serve, chinese):
    """The same refusal in Chinese for a Chinese caller and in English for the next caller
    (nothing leaks from one request to the next); the service's own language stays."""
    svc = serve(world.url)
    cats = world.of(world.cat)[0]
    status, body, headers = call(svc.url, "GET", f"/tasks/{cats}", code=world.bob,
                                 headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert status == 403 and one_line_error(body, 1) == f"任务 {cats} 不是您的"
    assert headers.get("content-language") == "zh-CN"
    status, body, _h = call(svc.url, "GET", "/tasks?status=bogus", code=world.bob,
                            headers={"Accept-Language": "zh-CN"})
    assert status == 400 and one_line_error(body, 2).startswith("未知的状态 'bogus'；可选：")
    for headers in ({}, {"Accept-Language": "en"}, {"Accept-Language": "fr"}):
        status, body, _h = call(svc.url, "GET", f"/tasks/{cats}", code=world.bob,
                                headers=headers)
        assert one_line_error(body, 1) == f"task {cats} is not yours"
    assert i18n.current() == "en"


def test_a_chinese_volunteers_cli_prints_the_services_refusal_in_chinese(world, serve,
                                                                        chinese):
    """`outreach task show` of another volunteer's task through the service: the Chinese
    line a Chinese CLI prints on a local ledger, with the same exit code; in English the
    English line."""
    svc = serve(world.url)
    cats = world.of(world.cat)[0]
    with i18n.language("zh_CN"):
        far = remote(svc, "task", "show", str(cats), code=world.bob)
        near = outreach("task", "show", str(cats), code=world.bob)
        wrong = remote(svc, "tasks", code=world.bob[:-1] + ("A" if world.bob[-1] != "A"
                                                            else "B"))
    assert (far.exit_code, far.stderr) == (1, f"outreach: 任务 {cats} 不是您的\n")
    assert (near.exit_code, near.stderr) == (far.exit_code, far.stderr)
    assert (wrong.exit_code, wrong.stderr) == (1, "outreach: 访问码不对\n")
    english = remote(svc, "task", "show", str(cats), code=world.bob)
    assert (english.exit_code, english.stderr) == (1, f"outreach: task {cats} is not yours\n")
