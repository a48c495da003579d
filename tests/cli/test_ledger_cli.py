"""The ledger's CLI contract: exit codes, one clear line, nothing half-written."""

from __future__ import annotations

import csv
import os
import stat

from sqlalchemy import func, select

from outreach.db.models import Member, MemberChange, Volunteer
from outreach.db.session import make_engine, session_scope
from tests.cli.helpers import bootstrap, first_code, outreach

HEADER = ("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
          "homebound,family_contact_name,family_contact_phone")


def count(url, model) -> int:
    with session_scope(make_engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(model))


def write(path, *lines, bom=False):
    path.write_bytes(("\ufeff" if bom else "").encode() + ("\n".join(lines) + "\n").encode())
    return path


def test_upgrade_is_idempotent(db_url):
    r = outreach("db", "upgrade")
    assert r.exit_code == 0 and "already at revision" in r.stdout
    assert "up to date" in outreach("db", "status").stdout


def test_commands_refuse_a_database_that_is_not_upgraded(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    from outreach.db import session as db_session

    db_session._engines.clear()
    r = outreach("volunteer", "add", "X", "--branch", "B", "--coordinator")
    assert r.exit_code == 1
    assert "outreach db upgrade" in r.stderr and "Traceback" not in r.output
    r = outreach("tasks", code="1-AAAA-BBBB-CCCC-DDDD")
    assert r.exit_code == 1 and "outreach db upgrade" in r.stderr


def test_first_coordinator_needs_no_code_then_codes_are_needed(db_url):
    coord, vol = bootstrap()
    r = outreach("volunteer", "add", "Eve", "--branch", "North")
    assert r.exit_code == 1 and "coordinator's access code" in r.stderr
    r = outreach("volunteer", "add", "Eve", "--branch", "North", code=vol)
    assert r.exit_code == 1 and "only a coordinator" in r.stderr
    r = outreach("volunteer", "add", "Eve", "--branch", "North", "--coordinator")
    assert r.exit_code == 1, "a second coordinator needs a coordinator's code"
    r = outreach("volunteer", "add", "Eve", "--branch", "South", "--capacity", "5", code=coord)
    assert r.exit_code == 0 and "created branch 'South'" in r.stdout
    assert count(db_url, Volunteer) == 3


def test_access_codes_are_stored_only_as_salted_hashes(db_url):
    coord, vol = bootstrap()
    with session_scope(make_engine(db_url), write=False) as s:
        rows = s.execute(select(Volunteer.code_hash, Volunteer.code_salt)).all()
    secrets = {coord.split("-", 1)[1], vol.split("-", 1)[1]}
    for digest, salt in rows:
        assert all(sec not in digest and sec.replace("-", "") not in digest for sec in secrets)
        assert len(salt) == 32
    assert rows[0][0] != rows[1][0]


def test_login_stores_the_code_0600_and_rejects_wrong_codes(db_url, tmp_path):
    coord, _ = bootstrap()
    r = outreach("login", input="1-AAAA-BBBB-CCCC-DDDD\n")
    assert r.exit_code == 1 and "wrong access code" in r.stderr
    r = outreach("login", input="not a code\n")
    assert r.exit_code == 2 and "not an access code" in r.stderr
    r = outreach("login", input=coord + "\n")
    assert r.exit_code == 0 and "Ann Coordinator" in r.stdout
    token = tmp_path / "home" / "token"
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
    assert outreach("whoami").stdout.startswith("Ann Coordinator")
    assert outreach("logout").exit_code == 0 and not token.exists()


def failed_logins(url: str, vid: int) -> int:
    with session_scope(make_engine(url), write=False) as s:
        return s.get(Volunteer, vid).failed_logins


def test_wrong_codes_are_counted_across_commands_and_the_right_one_resets(db_url):
    """The count survives the refused command's rollback (read and write commands alike)
    and shows in `volunteer list`; the right code sets it back to zero."""
    coord, vol = bootstrap()
    vid = int(vol.split("-", 1)[0])
    wrong = f"{vid}-AAAA-BBBB-CCCC-DDDD"
    for args in (["tasks"], ["task", "record", "1", "no_answer"], ["whoami"]):
        r = outreach(*args, code=wrong)
        assert r.exit_code == 1 and r.stderr == "outreach: wrong access code\n"
    assert failed_logins(db_url, vid) == 3
    listing = outreach("volunteer", "list", code=coord).stdout
    assert "wrong codes" in listing
    assert outreach("tasks", code=vol).exit_code == 0
    assert failed_logins(db_url, vid) == 0
    # An unknown id counts nothing and says the same.
    r = outreach("tasks", code="999-AAAA-BBBB-CCCC-DDDD")
    assert r.exit_code == 1 and r.stderr == "outreach: wrong access code\n"


def test_new_code_replaces_the_old_one_coordinators_only(db_url):
    coord, vol = bootstrap()
    vid = vol.split("-", 1)[0]
    assert outreach("tasks", code=f"{vid}-AAAA-BBBB-CCCC-DDDD").exit_code == 1
    r = outreach("volunteer", "new-code", vid, code=vol)
    assert r.exit_code == 1 and "only a coordinator" in r.stderr
    r = outreach("volunteer", "new-code", vid, code=coord)
    assert r.exit_code == 0, r.output
    fresh = first_code(r.stdout)
    assert fresh != vol and fresh.startswith(f"{vid}-")
    assert outreach("tasks", code=vol).exit_code == 1      # the old code is dead
    assert outreach("whoami", code=fresh).stdout.startswith("Bob Volunteer")
    assert failed_logins(db_url, int(vid)) == 0
    r = outreach("volunteer", "new-code", "4711", code=coord)
    assert r.exit_code == 2 and r.stderr == "outreach: no volunteer with id 4711\n"


def test_import_creates_updates_and_records_history(db_url, tmp_path):
    coord, _ = bootstrap()
    f = write(tmp_path / "ledger.csv", HEADER,
              "A1,Mary Smith,1940-02-03,555-1234,North,local,1 Main St,,yes,John Smith,555-9999",
              'A2,"Wang, Li",1950-01-01,+86 10 5555,East,away,2 Main St,"9 Far Rd, Other",no,,',
              bom=True)
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 0, r.output
    assert "2 new" in r.stdout and "new branches: East" in r.stdout
    f2 = write(tmp_path / "ledger2.csv", HEADER,
               "A1,Mary Smith,1940-02-03,555-4321,North,away,1 Main St,5 New Rd,yes,John Smith,"
               "555-9999")
    r = outreach("members", "import", str(f2), code=coord)
    assert r.exit_code == 0 and "1 updated (3 field changes recorded)" in r.stdout
    with session_scope(make_engine(db_url), write=False) as s:
        fields = sorted(s.scalars(select(MemberChange.field)))
        mary = s.scalars(select(Member).where(Member.ledger_no == "A1")).one()
    assert fields == ["current_address", "phone", "residence"]
    assert mary.phone == "555-4321" and str(mary.residence) == "away"


def test_a_bad_file_is_refused_whole_with_every_line(db_url, tmp_path):
    coord, _ = bootstrap()
    f = write(tmp_path / "bad.csv", HEADER,
              "B1,Good Row,1945-05-05,555 1111,North,local,,,no,,",
              "B2,,1940-13-03,555-1234,North,abroad,1 Main St,,maybe,John,abc",
              ",x,,,,,,,,,",
              "B3,Y,2090-01-01,,North,,,,,,",
              "B1,Dup,,,North,,,,,,",
              "B4,Short row")
    before = count(db_url, Member)
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 2
    err = r.stderr
    assert "nothing was imported" in err
    for expected in ("line 3: name is required", "line 3: birth_date", "line 3: residence",
                     "line 3: homebound", "line 3: family_contact_phone", "line 4: ledger_no",
                     "line 4: branch", "line 5: birth_date 2090-01-01", "line 6: ledger_no 'B1' "
                     "is already on line 2", "line 7: 2 fields"):
        assert expected in err, expected
    assert "abc" not in err, "contact details are never echoed"
    assert "Traceback" not in r.output
    assert count(db_url, Member) == before


def test_header_and_encoding_errors(db_url, tmp_path):
    coord, _ = bootstrap()
    f = write(tmp_path / "h.csv", "ledger_no,name,branch,extra", "A,B,C,D")
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 2 and "missing birth_date" in r.stderr and "'extra'" in r.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\nA1,Jos\xe9,,,North,,,,,,\n").encode("latin-1"))
    r = outreach("members", "import", str(latin), code=coord)
    assert r.exit_code == 2 and "not UTF-8" in r.stderr
    r = outreach("members", "import", str(tmp_path / "missing.csv"), code=coord)
    assert r.exit_code == 2 and "no such file" in r.stderr
    # a path with a newline in it (found by test_argv_fuzz) is still one line, escaped
    r = outreach("members", "import", ",x\n台账\t.csv", code=coord)
    assert r.exit_code == 2
    assert r.stderr.rstrip("\n").split("\n") == ["outreach: no such file: ,x\\n台账\\t.csv"]


def test_export_round_trips_and_neutralises_formulas(db_url, tmp_path):
    coord, vol = bootstrap()
    f = write(tmp_path / "in.csv", HEADER,
              'F1,"=HYPERLINK(""http://x"",""click"")",1944-04-04,+1 555 000,North,away,'
              '"2 Main St","@SUM(A1)",no,-Joe,',
              "F2,Plain Name,,,North,local,,,yes,,")
    assert outreach("members", "import", str(f), code=coord).exit_code == 0
    out = tmp_path / "out.csv"
    assert outreach("members", "export", str(out), code=vol).exit_code == 1
    r = outreach("members", "export", str(out), code=coord)
    assert r.exit_code == 0 and "exported 2 members" in r.stdout
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["name"].startswith("'=") and rows[0]["current_address"].startswith("'@")
    assert rows[0]["family_contact_name"] == "'-Joe"
    assert rows[0]["phone"] == "+1 555 000", "phone numbers keep their plus sign"
    r = outreach("members", "import", str(out), code=coord)
    assert r.exit_code == 0 and "0 updated" in r.stdout and "2 unchanged" in r.stdout
    with session_scope(make_engine(db_url), write=False) as s:
        assert s.scalar(select(Member.name).where(Member.ledger_no == "F1")).startswith("=HYP")


def test_member_show_for_coordinators_and_refused_to_strangers(db_url, tmp_path):
    coord, vol = bootstrap()
    f = write(tmp_path / "in.csv", HEADER,
              "S1,Sam Show,1941-01-01,555-2222,North,local,7 High St,,no,Kim,555-3333")
    outreach("members", "import", str(f), code=coord)
    r = outreach("member", "show", "S1", code=coord)
    assert r.exit_code == 0 and "555-2222" in r.stdout and "7 High St" in r.stdout
    assert "new → unverified" in r.stdout
    r = outreach("member", "show", "S1", code=vol)
    assert r.exit_code == 1 and "not in your open tasks" in r.stderr
    assert "555-2222" not in r.stderr and "High St" not in r.stderr
    r = outreach("member", "show", "NOPE", code=coord)
    assert r.exit_code == 2 and "no member" in r.stderr


def test_seed_writes_codes_0600_and_needs_a_coordinator_afterwards(db_url, tmp_path):
    assert outreach("db", "upgrade").exit_code == 0
    codes = tmp_path / "codes.csv"
    r = outreach("seed", "--members", "120", "--volunteers", "12", "--seed", "3",
                 "--codes", str(codes))
    assert r.exit_code == 0, r.output
    assert "seeded 120 members" in r.stdout and "TOTAL" in r.stdout
    assert stat.S_IMODE(os.stat(codes).st_mode) == 0o600
    rows = list(csv.DictReader(codes.open()))
    assert list(rows[0]) == ["volunteer_id", "name", "role", "branch", "code"]
    assert {r["role"] for r in rows} == {"volunteer", "coordinator"}
    coord = next(r["code"] for r in rows if r["role"] == "coordinator")
    vol = next(r["code"] for r in rows if r["role"] == "volunteer")
    assert outreach("seed", "--members", "5").exit_code == 1
    assert outreach("seed", "--members", "5", code=vol).exit_code == 1
    assert outreach("seed", "--members", "5", code=coord).exit_code == 0
    assert outreach("seed", "--members", "5", "--locale", "fr_FR", code=coord).exit_code == 2
    assert count(db_url, Member) == 125
    assert first_code(coord) == coord


# --- issue 11: seeding keeps its codes, coordinators, reactivation, private files ---------


def test_seed_on_a_ledger_without_a_coordinator_needs_codes_and_writes_nothing(db_url):
    """Defect 1: without --codes the new coordinators' codes were lost for good."""
    assert outreach("db", "upgrade").exit_code == 0
    r = outreach("seed", "--members", "20", "--seed", "1")
    assert r.exit_code == 2 and "--codes" in r.stderr and "nothing was written" in r.stderr
    assert count(db_url, Volunteer) == 0 and count(db_url, Member) == 0


def test_seed_checks_the_codes_path_before_it_writes(db_url, tmp_path):
    """Defect 1: a --codes path that cannot be written was found only after the commit,
    and the message then said "nothing was written"."""
    assert outreach("db", "upgrade").exit_code == 0
    for bad in (tmp_path / "no" / "such" / "folder" / "codes.csv", tmp_path):
        r = outreach("seed", "--members", "20", "--seed", "1", "--codes", str(bad))
        assert r.exit_code == 2 and "nothing was written" in r.stderr, r.output
        assert count(db_url, Volunteer) == 0 and count(db_url, Member) == 0
    codes = tmp_path / "codes.csv"
    r = outreach("seed", "--members", "20", "--volunteers", "4", "--seed", "1",
                 "--codes", str(codes))
    assert r.exit_code == 0 and "nothing was written" not in r.output
    with session_scope(make_engine(db_url), write=False) as s:
        coords = s.scalars(select(Volunteer).where(Volunteer.role == "coordinator")).all()
        assert coords and all(v.coordinator_since is not None for v in coords)
        assert s.scalar(select(func.count()).select_from(Volunteer).where(
            Volunteer.role == "volunteer", Volunteer.coordinator_since.is_not(None))) == 0
    coord = next(row["code"] for row in csv.DictReader(codes.open())
                 if row["role"] == "coordinator")
    r = outreach("seed", "--members", "5", code=coord)  # a coordinator can give new codes
    assert r.exit_code == 0 and "volunteer new-code" in r.stdout
    assert "nothing was written" not in r.output


def test_a_stale_token_does_not_block_the_first_coordinator(db_url):
    """Defect 3: OUTREACH_TOKEN left over from another database said "wrong access code"
    on an empty one, where no code is needed yet."""
    assert outreach("db", "upgrade").exit_code == 0
    stale = "7-AAAA-BBBB-CCCC-DDDD"
    r = outreach("volunteer", "add", "Ann Coordinator", "--branch", "North", "--coordinator",
                 code=stale)
    assert r.exit_code == 0, r.output
    coord = first_code(r.stdout)
    r = outreach("volunteer", "add", "Eve", "--branch", "North", "--coordinator", code=stale)
    assert r.exit_code == 1 and "wrong access code" in r.stderr, "after the first: a code"
    assert outreach("volunteer", "add", "Eve", "--branch", "North", code=coord).exit_code == 0


def test_the_last_active_coordinator_stays_and_activate_brings_people_back(db_url):
    """Defect 2: the only coordinator could deactivate themselves, with no way back."""
    coord, vol = bootstrap()
    cid, vid = coord.split("-", 1)[0], vol.split("-", 1)[0]
    r = outreach("volunteer", "deactivate", cid, code=coord)
    assert r.exit_code == 1 and "last active coordinator" in r.stderr
    r = outreach("volunteer", "add", "Cy Second", "--branch", "North", "--coordinator",
                 code=coord)
    second = first_code(r.stdout)
    assert outreach("volunteer", "deactivate", cid, code=coord).exit_code == 0
    assert outreach("whoami", code=coord).exit_code == 1, "inactive: refused"
    assert outreach("volunteer", "deactivate", vid, code=second).exit_code == 0
    r = outreach("volunteer", "activate", vid, code=vol)
    assert r.exit_code == 1, "an inactive volunteer cannot bring themselves back"
    for who in (cid, vid):
        r = outreach("volunteer", "activate", who, code=second)
        assert r.exit_code == 0 and "active again" in r.stdout, r.output
    assert outreach("whoami", code=coord).stdout.startswith("Ann Coordinator")
    assert "already active" in outreach("volunteer", "activate", vid, code=second).stdout


def test_a_coordinator_reactivates_a_do_not_contact_member(db_url, tmp_path):
    """Defect 5: nothing undid a volunteer's do_not_contact."""
    from outreach.db.machines import MemberStatus
    from outreach.db.state import move_member

    coord, vol = bootstrap()
    f = write(tmp_path / "in.csv", HEADER,
              "R1,Rita Rest,1941-01-01,555-2222,North,local,7 High St,,no,Kim,555-3333")
    assert outreach("members", "import", str(f), code=coord).exit_code == 0
    with session_scope(make_engine(db_url)) as s:
        m = s.scalars(select(Member).where(Member.ledger_no == "R1")).one()
        move_member(s, m, MemberStatus.DO_NOT_CONTACT, actor_id=None, reason="asked")
    args = ("member", "reactivate", "R1", "--reason", "her daughter asked us to call")
    r = outreach(*args, code=vol)
    assert r.exit_code == 1 and "only a coordinator" in r.stderr
    r = outreach(*args, code=coord)
    assert r.exit_code == 0 and "unverified again" in r.stdout, r.output
    shown = outreach("member", "show", "R1", code=coord).stdout
    assert "do_not_contact → unverified" in shown and "her daughter asked us to call" in shown
    r = outreach(*args, code=coord)
    assert r.exit_code == 1 and "not do_not_contact" in r.stderr


def test_files_with_contact_details_are_private_in_an_open_folder(db_url, tmp_path):
    """Defect 16: the database (and its WAL and SHM) and the exported ledger are 0600
    even in an existing 0755 folder, and a database file made 0644 is narrowed."""
    coord, _ = bootstrap()
    home = tmp_path / "open"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    out = home / "ledger.csv"
    assert outreach("members", "export", str(out), code=coord).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    if db_url.startswith("sqlite"):  # PostgreSQL keeps its files itself
        from outreach.db import session as db_session

        db = tmp_path / "outreach.db"
        db.chmod(0o644)
        for eng in db_session._engines.values():
            eng.dispose()
        db_session._engines.clear()
        assert outreach("volunteer", "list", code=coord).exit_code == 0
        files = [p for p in tmp_path.iterdir() if p.name.startswith("outreach.db")]
        assert {p.name for p in files} >= {"outreach.db", "outreach.db-wal", "outreach.db-shm"}
        assert {p.name: oct(stat.S_IMODE(os.stat(p).st_mode)) for p in files} == \
            {p.name: "0o600" for p in files}
        fresh = home / "fresh.db"
        eng = make_engine(f"sqlite:///{fresh}")
        with eng.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (a)")
        eng.dispose()
        assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600


def test_branch_names_that_only_look_different_are_refused(db_url, tmp_path):
    """Defect 13: `North\\u200b`, `Nörth` (NFC) and `Nörth` (NFD) were three branches."""
    coord, _ = bootstrap()
    for name, says in (("North\u200b", "invisible character (U+200B)"),
                       ("north", "'North' exists already"),
                       (" NOR TH ", "'North' exists already")):
        r = outreach("volunteer", "add", "Eve", "--branch", name, code=coord)
        assert r.exit_code == 2 and says in r.stderr, r.output
    assert outreach("volunteer", "add", "Eve", "--branch", "No\u0308rthfield",
                    code=coord).exit_code == 0
    r = outreach("volunteer", "add", "Fay", "--branch", "N\u00f6rthfield", code=coord)
    assert r.exit_code == 0 and "created branch" not in r.stdout, "NFD and NFC: one branch"
    f = write(tmp_path / "in.csv", HEADER, "B1,Bea,1941-01-01,,north,local,,,no,,")
    r = outreach("members", "import", str(f), code=coord)
    assert r.exit_code == 2 and "'North' exists already" in r.stderr
    assert count(db_url, Member) == 0
