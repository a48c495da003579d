"""The CLI in Chinese (OUTREACH_LANG=zh_CN): every command's help, a refusal, an import
with errors, a report, an unknown command — in Chinese, with the same exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from outreach import i18n
from tests.cli.helpers import bootstrap, outreach

OUTREACH = str(Path(sys.executable).parent / "outreach")
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Four English words in a row: a sentence left untranslated (code words are single).
ENGLISH = re.compile(r"\b[A-Za-z][a-z]{2,}(?: [a-z]{2,}){3,}\b")

_HELPS = r"""
import json, sys
from click.testing import CliRunner
from outreach.cli.main import build, _click_command

root = _click_command(build())
out = {}
def walk(cmd, path):
    r = CliRunner().invoke(root, [*path, "--help"], prog_name="outreach")
    out[" ".join(path) or "outreach"] = [r.exit_code, r.output]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        walk(sub, [*path, name])
walk(root, [])
json.dump(out, sys.stdout)
"""


@pytest.fixture
def zh():
    i18n.use("zh_CN")
    yield
    i18n.use("en")


def _helps() -> dict[str, list]:
    env = {**os.environ, "OUTREACH_LANG": "zh_CN", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", _HELPS], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_every_commands_help_is_chinese():
    helps = _helps()
    assert len(helps) > 40
    for path, (code, text) in helps.items():
        assert code == 0, path
        assert "用法" in text and "选项" in text, path
        # the description under the usage line is Chinese
        body = text.split("\n", 3)[-1]
        assert CJK.search(body), path
        for line in text.splitlines():
            if "outreach " in line or "http" in line:
                continue  # examples: commands people type
            assert not ENGLISH.search(line), f"{path}: {line.strip()}"


def test_an_unknown_command_and_a_missing_argument_are_chinese():
    env = {**os.environ, "OUTREACH_LANG": "zh_CN"}
    r = subprocess.run([OUTREACH, "nonsense"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "没有命令" in r.stderr, r.stderr
    r = subprocess.run([OUTREACH, "member", "show"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "缺少参数" in r.stderr, r.stderr


def test_a_refused_command_says_why_in_chinese_with_the_same_exit_code(db_url, zh):
    coord, volunteer = bootstrap()
    r = outreach("volunteer", "list", code=volunteer)
    assert r.exit_code == 1
    assert CJK.search(r.stderr) and not ENGLISH.search(r.stderr), r.stderr


def test_an_import_with_errors_lists_lines_in_chinese_and_imports_nothing(db_url, tmp_path, zh):
    coord, _ = bootstrap()
    f = tmp_path / "台账.csv"
    f.write_text("台账编号,姓名,出生日期,联系电话,所在支部,居住情况,家庭住址,现居住地址,行动不便,"
                 "家属联系人,家属联系电话\n"
                 "Z1,王秀英,1941年3月5日,13800000001,North,本地,,,否,,\n"
                 "Z2,,1940/13/03,13800000002,North,国外,,,也许,,\n", encoding="utf-8")
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 2
    err = r.stderr
    assert CJK.search(err) and "3" in err and not ENGLISH.search(err), err
    r = outreach("member", "show", "Z1", code=coord)
    assert r.exit_code != 0  # nothing was imported, not even the good row


def test_a_report_has_chinese_headers(db_url, zh):
    coord, _ = bootstrap()
    r = outreach("report", "coverage", code=coord)
    assert r.exit_code == 0, r.output
    assert CJK.search(r.stdout), r.stdout


def test_statuses_and_roles_inside_sentences_are_named_not_coded(db_url, zh):
    """A code people only read is named in Chinese inside a sentence too (角色, 状态)."""
    coord, _ = bootstrap()
    from outreach.db.session import make_engine, session_scope
    from tests.db import factories as f

    with session_scope(make_engine(db_url)) as s:
        b = f.branch(s)
        f.member(s, branch_=b, ledger_no="R1", residence="local")
        branch = b.name
    r = outreach("member", "role", "R1", "secretary", "--branch", branch, code=coord)
    assert r.exit_code == 0, r.output
    assert "书记" in r.stdout, r.stdout
    assert "secretary" not in r.stdout
    r = outreach("member", "reactivate", "R1", "--reason", "x", code=coord)
    assert r.exit_code != 0 and "unverified" not in r.stderr and "active" not in r.stderr, r.stderr
