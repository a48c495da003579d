"""Issue 24, defect 2: a person's output file (an export, a report, a run sheet, a codes
file) never follows a symbolic link, never writes into another user's file, a folder or a
FIFO, and replaces an existing file only with --force — atomically, 0600 afterwards, and
without leaving a half-written or temporary file behind."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import func, select

from outreach.db.errors import BadInput, Refused
from outreach.db.files import PrivateFile, write_private
from outreach.db.models import Member
from outreach.db.session import make_engine, session_scope
from tests.cli.helpers import bootstrap, outreach

OLD = b"the coordinator's master spreadsheet\n"
NOBODY = 65534


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _names(folder) -> set[str]:
    return set(os.listdir(folder))


@pytest.fixture
def out(tmp_path):
    """An empty folder of its own, so that any file left behind shows."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# --- the function --------------------------------------------------------------------------

def test_a_new_file_is_written_0600_even_under_umask_000(out):
    old = os.umask(0)
    try:
        write_private(out / "export.csv", "a,b\n1,2\n")
    finally:
        os.umask(old)
    assert (out / "export.csv").read_bytes() == b"a,b\n1,2\n"
    assert _mode(out / "export.csv") == 0o600
    assert _names(out) == {"export.csv"}, "no temporary file is left"


def test_a_symlink_is_refused_and_its_destination_untouched(out, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(OLD)
    os.chmod(victim, 0o644)
    (out / "report.csv").symlink_to(victim)
    for force in (False, True):
        with pytest.raises(Refused, match="symbolic link"):
            write_private(out / "report.csv", "secret\n", force=force)
    assert victim.read_bytes() == OLD and _mode(victim) == 0o644
    assert os.path.islink(out / "report.csv")
    assert _names(out) == {"report.csv"}


def test_a_dangling_symlink_is_refused_and_nothing_is_created_where_it_points(out, tmp_path):
    (out / "codes.csv").symlink_to(tmp_path / "shared" / "codes.csv")
    (tmp_path / "shared").mkdir()
    with pytest.raises(Refused, match="symbolic link"):
        write_private(out / "codes.csv", "secret\n", force=True)
    assert not (tmp_path / "shared" / "codes.csv").exists()
    assert _names(out) == {"codes.csv"}


def test_an_existing_file_is_refused_without_force_and_left_byte_for_byte(out):
    target = out / "master.xlsx"
    target.write_bytes(OLD)
    os.chmod(target, 0o644)
    before = os.stat(target)
    with pytest.raises(Refused) as exc:
        write_private(target, b"new bytes")
    assert "already exists" in str(exc.value) and "--force" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert target.read_bytes() == OLD
    after = os.stat(target)
    assert (after.st_ino, after.st_mtime_ns, _mode(target)) == \
        (before.st_ino, before.st_mtime_ns, 0o644)
    assert _names(out) == {"master.xlsx"}


def test_force_replaces_an_existing_file_of_ones_own_with_a_new_0600_file(out):
    target = out / "master.xlsx"
    target.write_bytes(OLD)
    os.chmod(target, 0o666)
    keep = out / "hard-link"
    os.link(target, keep)  # another name of the old file: the old bytes stay there
    old = os.umask(0)
    try:
        write_private(target, b"new bytes", force=True)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new bytes" and _mode(target) == 0o600
    assert keep.read_bytes() == OLD, "the old file was replaced, not written into"
    assert _names(out) == {"master.xlsx", "hard-link"}


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's file needs root")
@pytest.mark.parametrize("force", [False, True])
def test_another_users_file_is_refused(out, force):
    target = out / "ledger.csv"
    target.write_bytes(OLD)
    os.chmod(target, 0o666)
    os.chown(target, NOBODY, NOBODY)
    with pytest.raises(Refused, match="belongs to another user"):
        write_private(target, "M001,Zhang San,13800138000\n", force=force)
    assert target.read_bytes() == OLD and os.stat(target).st_uid == NOBODY
    assert _names(out) == {"ledger.csv"}


@pytest.mark.parametrize("kind, words", [("fifo", "named pipe (FIFO)"),
                                         ("folder", "is a folder"),
                                         ("device", "is a device")])
def test_what_is_not_a_regular_file_is_refused_saying_what_it_is(out, kind, words):
    if kind == "fifo":
        target = out / "pipe.csv"
        os.mkfifo(target)  # opening it to write would wait for a reader forever
    elif kind == "folder":
        target = out / "reports.xlsx"
        target.mkdir()
    else:
        target = "/dev/null"
    with pytest.raises(BadInput) as exc:
        write_private(target, "x\n", force=True)
    assert words in str(exc.value) and "nothing was written" in str(exc.value)
    assert "\n" not in str(exc.value)
    expected = set() if kind == "device" else {os.path.basename(target)}
    assert _names(out) == expected


def test_a_file_that_appears_meanwhile_is_not_replaced_without_force(out):
    """Between the check and the rename someone makes the file: it is kept."""
    target = out / "run-sheet.xlsx"
    with PrivateFile(target) as f:
        target.write_bytes(OLD)
        with pytest.raises(Refused, match="already exists"):
            f.commit(b"new bytes")
    assert target.read_bytes() == OLD
    assert _names(out) == {"run-sheet.xlsx"}


def test_a_link_planted_meanwhile_is_replaced_not_followed_with_force(out, tmp_path):
    target = out / "run-sheet.xlsx"
    target.write_bytes(OLD)
    victim = tmp_path / "victim"
    victim.write_bytes(OLD)
    with PrivateFile(target, force=True) as f:
        target.unlink()
        target.symlink_to(victim)
        with pytest.raises(Refused, match="symbolic link"):
            f.commit(b"new bytes")
    assert victim.read_bytes() == OLD
    assert _names(out) == {"run-sheet.xlsx"}


def test_an_error_before_commit_leaves_nothing(out):
    with pytest.raises(RuntimeError):
        with PrivateFile(out / "export.csv"):
            assert len(_names(out)) == 1  # the new file, under another name
            raise RuntimeError("the export failed")
    assert _names(out) == set()


def test_a_writer_that_needs_a_path_gets_one_and_the_result_is_0600(out):
    """SQLite's backup and pg_dump write to a path: the same checks, the same rename."""
    import sqlite3

    target = out / "ledger.db"
    with PrivateFile(target) as f:
        path = f.handover()
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        os.chmod(path, 0o644)
        f.commit()
    assert _mode(target) == 0o600 and target.read_bytes().startswith(b"SQLite format 3")
    assert _names(out) == {"ledger.db"}


def test_a_missing_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(BadInput, match="cannot write .*nothing was written"):
        write_private(tmp_path / "no" / "such" / "folder.csv", "x")


# --- through the commands ------------------------------------------------------------------

def _refused(r, *words: str) -> str:
    assert r.exit_code != 0, r.output
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("outreach: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_members_export_refuses_an_existing_file_a_link_and_replaces_with_force(db_url, out,
                                                                                 tmp_path):
    coord, _ = bootstrap()
    target = out / "ledger.csv"
    target.write_bytes(OLD)
    _refused(outreach("members", "export", str(target), code=coord), "already exists",
             "--force")
    assert target.read_bytes() == OLD
    r = outreach("members", "export", str(target), "--force", code=coord)
    assert r.exit_code == 0, r.output
    assert target.read_bytes().startswith(b"ledger_no,name,") and _mode(target) == 0o600
    victim = tmp_path / "victim.csv"
    victim.write_bytes(OLD)
    link = out / "link.csv"
    link.symlink_to(victim)
    _refused(outreach("members", "export", str(link), "--force", code=coord),
             "symbolic link")
    assert victim.read_bytes() == OLD
    assert _names(out) == {"ledger.csv", "link.csv"}
    r = outreach("members", "export", "-", code=coord)  # stdout as before
    assert r.exit_code == 0 and r.stdout.startswith("ledger_no,name,")


def test_report_xlsx_refuses_an_existing_file_and_a_fifo(db_url, out):
    coord, _ = bootstrap()
    target = out / "coverage.xlsx"
    target.write_bytes(OLD)
    argv = ["report", "coverage", "--format", "xlsx", "--output", str(target)]
    _refused(outreach(*argv, code=coord), "already exists", "--force")
    assert target.read_bytes() == OLD
    r = outreach(*argv, "--force", code=coord)
    assert r.exit_code == 0, r.output
    assert target.read_bytes()[:2] == b"PK" and _mode(target) == 0o600
    pipe = out / "pipe.xlsx"
    os.mkfifo(pipe)
    _refused(outreach("report", "scorecard", "--format", "xlsx", "--output", str(pipe),
                      "--force", code=coord), "named pipe (FIFO)")
    assert _names(out) == {"coverage.xlsx", "pipe.xlsx"}


def test_the_run_sheet_refuses_an_existing_file_without_force(db_url, out):
    _, vol = bootstrap()
    target = out / "run-sheet.xlsx"
    target.write_bytes(OLD)
    argv = ["tasks", "--format", "xlsx", "--output", str(target)]
    _refused(outreach(*argv, code=vol), "already exists")
    assert target.read_bytes() == OLD
    assert outreach(*argv, "--force", code=vol).exit_code == 0
    assert target.read_bytes()[:2] == b"PK" and _mode(target) == 0o600
    assert _names(out) == {"run-sheet.xlsx"}


def test_seed_refuses_an_existing_codes_file_before_seeding(db_url, out):
    coord, _ = bootstrap()
    codes = out / "codes.csv"
    codes.write_bytes(OLD)
    argv = ["seed", "--members", "3", "--volunteers", "1", "--seed", "1", "--codes",
            str(codes)]
    _refused(outreach(*argv, code=coord), "already exists", "--force")
    assert codes.read_bytes() == OLD
    with session_scope(make_engine(db_url), write=False) as s:
        assert s.scalar(select(func.count()).select_from(Member)) == 0, "nothing seeded"
    r = outreach(*argv, "--force", code=coord)
    assert r.exit_code == 0, r.output
    assert codes.read_text().startswith("volunteer_id,name,role,branch,code\n")
    assert _mode(codes) == 0o600 and _names(out) == {"codes.csv"}


def test_every_command_that_writes_a_file_offers_force():
    for argv in (["members", "export"], ["report"], ["tasks"], ["seed"]):
        r = outreach(*argv, "--help", env={"COLUMNS": "200"})
        assert "--force" in r.stdout, argv

