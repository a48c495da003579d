"""`outreach member link LEDGER_NO [--days N] [--qr FILE] [--force] [--revoke]` (issue 26):
prints the member's link (OUTREACH_PUBLIC_URL or the local service's address), writes its
QR code as a PNG (0600, never over a file without --force), withdraws the member's links;
a volunteer is refused for a member not on their open tasks — on this machine and through
the ledger service."""

from __future__ import annotations

import os
import stat

from sqlalchemy import func, select

from outreach.db.models import MemberLink
from outreach.db.session import make_engine, session_scope
from outreach.tasks.links import member_links as ml
from tests.cli.helpers import bootstrap, outreach
from tests.service.conftest import serve  # noqa: F401 (the ledger service in a thread)

HEADER = ("ledger_no,name,birth_date,phone,branch,residence,home_address,current_address,"
          "homebound,family_contact_name,family_contact_phone")
PNG = b"\x89PNG\r\n\x1a\n"


def _ledger(tmp_path, coord):
    f = tmp_path / "ledger.csv"
    f.write_text("\n".join([HEADER, "L1,Lily Local,1940-01-01,555-1234,North,local,1 Main St,,"
                            "no,,", "A1,Andy Away,1941-01-01,555-2222,North,away,2 Main St,"
                            "9 Far Rd,no,,"]) + "\n")
    assert outreach("members", "import", str(f), code=coord).exit_code == 0


def _links(url) -> int:
    with session_scope(make_engine(url), write=False) as s:
        return s.scalar(select(func.count()).select_from(MemberLink))


def _valid(url, link: str) -> bool:
    with session_scope(make_engine(url), write=False) as s:
        try:
            ml.open_link(s, link.rsplit("/", 1)[1])
            return True
        except ml.LinkNotValid:
            return False


def test_a_coordinator_makes_a_link_and_its_qr_code(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    coord, _vol = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("member", "link", "L1", code=coord)
    assert r.exit_code == 0, r.output
    url = r.stdout.strip()
    assert url.startswith("http://127.0.0.1:8765/m/") and len(url.rsplit("/", 1)[1]) >= 22
    png = tmp_path / "member-link-L1.png"
    assert png.read_bytes().startswith(PNG)
    assert stat.S_IMODE(os.stat(png).st_mode) == 0o600
    assert "555-1234" not in r.output and "Main St" not in r.output
    assert _valid(db_url, url)
    # the file is not replaced without --force, and then no link is made
    r = outreach("member", "link", "L1", code=coord)
    assert r.exit_code == 1 and "exists" in r.output and _links(db_url) == 1
    r = outreach("member", "link", "L1", "--force", "--days", "7", "--qr", "lily.png",
                 code=coord, env={"OUTREACH_PUBLIC_URL": "https://outreach.example.org"})
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("https://outreach.example.org/m/")
    assert (tmp_path / "lily.png").read_bytes().startswith(PNG)
    # --revoke withdraws both
    r = outreach("member", "link", "L1", "--revoke", code=coord)
    assert r.exit_code == 0 and "2" in r.stdout
    assert not _valid(db_url, url)


def test_a_volunteer_only_for_a_member_on_their_open_tasks(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    r = outreach("member", "link", "L1", code=vol)
    assert r.exit_code == 1 and "not in your open tasks" in r.output
    r = outreach("member", "link", "L1", "--revoke", code=vol)
    assert r.exit_code == 1
    assert _links(db_url) == 0 and not (tmp_path / "member-link-L1.png").exists()
    r = outreach("member", "link", "Z9", code=coord)
    assert r.exit_code == 2 and _links(db_url) == 0


def test_through_the_ledger_service(db_url, tmp_path, monkeypatch, serve):
    monkeypatch.chdir(tmp_path)
    coord, vol = bootstrap()
    _ledger(tmp_path, coord)
    svc = serve(db_url)
    env = {"OUTREACH_SERVER": svc.url}
    r = outreach("member", "link", "A1", code=vol, env=env)
    assert r.exit_code == 1 and "not in your open tasks" in r.output
    r = outreach("member", "link", "A1", code=coord, env=env)
    assert r.exit_code == 0, r.output
    url = r.stdout.strip()
    assert "/m/" in url and _valid(db_url, url)
    assert (tmp_path / "member-link-A1.png").read_bytes().startswith(PNG)
    with session_scope(make_engine(db_url), write=False) as s:  # the token is kept nowhere
        from outreach.db.models import IdempotencyKey

        answers = " ".join(s.scalars(select(IdempotencyKey.answer)))
        assert url.rsplit("/", 1)[1] not in answers
    r = outreach("member", "link", "A1", "--revoke", code=coord, env=env)
    assert r.exit_code == 0 and not _valid(db_url, url)
