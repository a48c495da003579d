"""One namespace (issue 25): installing outreach claims the name ``outreach`` and nothing
else — no ``db``, ``tasks`` or ``cli`` of ours in anyone's site-packages — and no code of
ours imports the folders by their bare names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The design's folders, each installed as ``outreach.<folder>``.
FOLDERS = ("cli", "db", "flows", "i18n", "seed", "service", "tasks")
BARE = re.compile(rf"^\s*(from|import)\s+({'|'.join(FOLDERS)})\b", re.M)


def _sources():
    for folder in (*FOLDERS, "outreach", "tests", "bench"):
        yield from (ROOT / folder).rglob("*.py")


def test_no_code_imports_a_folder_by_its_bare_name():
    bare = [f"{p.relative_to(ROOT)}:{s[:m.start()].count(chr(10)) + 1}"
            for p in _sources() for s in [p.read_text(encoding="utf-8")]
            for m in BARE.finditer(s)]
    assert bare == [], "import these through the outreach namespace"


def test_the_check_sees_a_bare_import():
    assert BARE.search("x = 1\nfrom tasks.kernel.rules import parse_day\n")
    assert BARE.search("    import db\n")
    assert not BARE.search("from outreach.tasks import rules\n# reads from db\n")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the tree (setuptools' build/ folder would otherwise
    be left in the checkout, and a stale one could slip old modules into a later wheel)."""
    src, out = tmp_path_factory.mktemp("src") / "outreach", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__", ".*cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)
    [found] = out.glob("outreach-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package_and_every_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"outreach"}
    [top_level] = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["outreach"]
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            inside = f"outreach/{path.relative_to(ROOT).as_posix()}"
            assert inside in names, f"{path.relative_to(ROOT)} is not in the wheel"
    assert "outreach/i18n/locale/zh_CN/LC_MESSAGES/outreach.mo" in names


def test_installed_only_the_namespace_imports(wheel, tmp_path):
    """Installed from the wheel into a folder of its own, run from elsewhere: the
    namespace imports (the CLI's app, the models, the catalog), a bare name does not."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-compile", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # bin/ holds the `outreach` script
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info")
                  ) == ["bin", "outreach"]
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    probe = ("import outreach.cli.main, outreach.db.models, outreach.i18n as i;"
             "print(outreach.db.models.__file__.startswith(%r), i.translations('zh_CN')"
             ".gettext('member'))" % str(target))
    ok = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-500:]
    assert ok.stdout.split() == ["True", "党员"]
    for name in FOLDERS:
        bare = subprocess.run([sys.executable, "-c", f"import {name}"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert bare.returncode != 0 and "No module named" in bare.stderr, name
