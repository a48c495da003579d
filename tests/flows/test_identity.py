"""Who acts in a flow run, and what the stack's processes are given — fast, no Prefect.

Run tickets (`tasks.access.tickets`): the record-outcomes flow takes one instead of a volunteer
id; the flow body refuses a wrong one before it reads the file. The stack's environment is
built from nothing and its auth file is private.
"""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from sqlalchemy import func, select, update

from outreach.db.errors import BadInput, Refused
from outreach.db.models import Attempt, Role, RunTicket
from outreach.db.session import engine, make_engine, session_scope
from outreach.tasks.access import ticket_jobs, tickets
from outreach.tasks.access.permissions import format_code
from tests.db import factories as f


def _coordinator(session):
    vol, secret = f.volunteer(session, role=Role.COORDINATOR, with_secret=True)
    return vol, format_code(vol.id, secret)


def test_a_ticket_stands_for_the_coordinator_whose_code_made_it_once(session):
    vol, code = _coordinator(session)
    ticket = tickets.issue(session, code, purpose="record-outcomes")
    assert ticket.startswith("ticket-") and code not in ticket
    # The ledger keeps no code in clear: neither the code nor its secret part is stored.
    row = session.scalars(select(RunTicket)).one()
    stored = " ".join(str(v) for v in (row.purpose, row.secret_hash, row.code_stamp))
    assert code.split("-", 1)[1] not in stored and ticket.rsplit("-", 1)[1] not in stored
    who = tickets.redeem(session, ticket, purpose="record-outcomes")
    assert (who.id, who.is_coordinator) == (vol.id, True)
    with pytest.raises(Refused, match="wrong or used run ticket"):
        tickets.redeem(session, ticket, purpose="record-outcomes")


def test_wrong_expired_and_misused_tickets_are_refused(session):
    _, code = _coordinator(session)
    ticket = tickets.issue(session, code, purpose="record-outcomes")
    tid, secret = ticket.split("-")[1:]
    forged = f"ticket-{tid}-{'0' * 32 if secret != '0' * 32 else '1' * 32}"
    with pytest.raises(Refused, match="wrong or used"):
        tickets.redeem(session, forged, purpose="record-outcomes")
    with pytest.raises(Refused, match="never type an access code"):
        tickets.redeem(session, code, purpose="record-outcomes")
    with pytest.raises(Refused, match="not a run ticket"):
        tickets.redeem(session, "", purpose="record-outcomes")
    session.execute(update(RunTicket).values(expires_at=dt.datetime(2000, 1, 1)))
    with pytest.raises(Refused, match="expired"):
        tickets.redeem(session, ticket, purpose="record-outcomes")


def test_only_a_coordinator_with_a_right_code_gets_a_ticket(session):
    vol, secret = f.volunteer(session, with_secret=True)
    with pytest.raises(Refused, match="only a coordinator"):
        tickets.issue(session, format_code(vol.id, secret), purpose="record-outcomes")
    _, code = _coordinator(session)
    with pytest.raises(Refused, match="wrong access code"):
        tickets.issue(session, code[:-1] + ("A" if code[-1] != "A" else "B"),
                      purpose="record-outcomes")
    with pytest.raises(BadInput):
        tickets.issue(session, code, purpose="record-outcomes", minutes=0)
    assert session.scalar(select(func.count()).select_from(RunTicket)) == 0


def test_a_ticket_stops_when_the_coordinator_is_deactivated(session):
    vol, code = _coordinator(session)
    ticket = tickets.issue(session, code, purpose="record-outcomes")
    vol.active = False
    session.flush()
    with pytest.raises(Refused, match="not active"):
        tickets.redeem(session, ticket, purpose="record-outcomes")


def test_a_ticket_carries_its_authority_and_nothing_that_gives_back_a_code(session):
    """Issue 24: the ledger used to keep the coordinator's code sealed with the ticket's
    secret, so the ticket (in Prefect's run parameters) opened the permanent code. Now the
    row holds who, what for and until when; a code changed since stops the ticket."""
    vol, code = _coordinator(session)
    ticket = tickets.issue(session, code, purpose="plan-meeting")
    row = session.scalars(select(RunTicket)).one()
    assert (row.volunteer_id, row.purpose) == (vol.id, "plan-meeting")
    assert not hasattr(row, "sealed")
    lifetime = row.expires_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert dt.timedelta(minutes=14) < lifetime <= dt.timedelta(minutes=15)
    f.actor(session, vol)  # a new code for the coordinator
    with pytest.raises(Refused, match="has changed"):
        tickets.redeem(session, ticket, purpose="plan-meeting")


def test_any_use_burns_the_ticket_and_expired_ones_go(db_url):
    """A ticket refused for the wrong deployment cannot be tried again for the right
    one; an expired ticket is deleted when any ticket is used."""
    eng = engine()
    with session_scope(eng) as s:
        _, code = _coordinator(s)
        meeting = tickets.issue(s, code, purpose="plan-meeting")
        stale = tickets.issue(s, code, purpose="record-outcomes")
        s.execute(update(RunTicket).where(RunTicket.id == int(stale.split("-")[1]))
                  .values(expires_at=dt.datetime(2000, 1, 1)))
    with pytest.raises(Refused, match="not record-outcomes"):
        ticket_jobs.use(eng, meeting, purpose="record-outcomes")
    with pytest.raises(Refused, match="wrong or used"):
        ticket_jobs.use(eng, meeting, purpose="plan-meeting")
    with session_scope(eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(RunTicket)) == 0


def test_the_flow_body_refuses_a_wrong_ticket_with_nothing_applied(db_url, tmp_path):
    """The identity check comes first in the flow: a wrong ticket fails the run before
    a line of the file is read (the flow's body, called directly)."""
    from pydantic import SecretStr

    from outreach.flows.outcomes import record_outcomes

    eng = make_engine(db_url)
    try:
        with session_scope(eng) as s:
            t = f.task(s, status="assigned", volunteer_=f.volunteer(s))
            _, code = _coordinator(s)
            tid = t.id
        path = tmp_path / "results.csv"
        path.write_text(f"task_id,outcome,note,answers\n{tid},no_answer,,\n")
        for wrong in ("ticket-1-" + "0" * 32, code, "17"):
            with pytest.raises(Refused):
                record_outcomes.fn(path=str(path), ticket=SecretStr(wrong))
        with session_scope(eng, write=False) as s:
            assert s.scalar(select(func.count()).select_from(Attempt)) == 0
    finally:
        eng.dispose()


# --- the stack's environment and auth file -------------------------------------------------


def test_the_stack_environment_holds_no_access_code_and_nothing_else_of_the_caller(
        tmp_path, monkeypatch):
    from outreach.cli import stack

    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    monkeypatch.setenv("OUTREACH_TOKEN", "17-ABCD-EFGH-JKMN-PQRS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    monkeypatch.setenv("PREFECT_API_KEY", "caller-key")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    st = stack.Stack(port=4999, url="http://127.0.0.1:4999", home=str(tmp_path / "stack"),
                     ledger="sqlite:///x.db")
    envs = {role: stack.environment(st, "postgresql+asyncpg://h/p", "outreach:s3cret",
                                    role=role) for role in ("server", "client", "service")}
    for role, env in envs.items():
        assert "OUTREACH_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env, role
        assert "PREFECT_API_KEY" not in env, role
        assert "17-ABCD-EFGH-JKMN-PQRS" not in "".join(env.values()), role
        assert env["OUTREACH_DATABASE_URL"] == "sqlite:///x.db"
        assert env["OUTREACH_HOME"] == str(tmp_path.resolve())
        assert env["PATH"] and env["LC_ALL"] == "C.UTF-8"
        assert set(env) <= (set(stack.PASSED_ON) | {"LC_ALL"} | {
            k for k in env if k.startswith(("PREFECT_", "OUTREACH_"))}
            | {"DO_NOT_TRACK", "PYTHONUNBUFFERED"}), role
    # The server checks the auth string, clients send it, the service needs neither.
    assert envs["server"]["PREFECT_SERVER_API_AUTH_STRING"] == "outreach:s3cret"
    assert "PREFECT_API_AUTH_STRING" not in envs["server"]
    assert envs["client"]["PREFECT_API_AUTH_STRING"] == "outreach:s3cret"
    assert "PREFECT_SERVER_API_AUTH_STRING" not in envs["client"]
    assert not any("AUTH" in k for k in envs["service"])
    # Only the server holds Prefect's database URL.
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in envs["client"]
    assert envs["server"]["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("/p")


def test_the_auth_file_is_private_and_kept(tmp_path, monkeypatch):
    from outreach.cli import stack

    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path))
    old = os.umask(0o022)
    try:
        first = stack.ensure_auth()
    finally:
        os.umask(old)
    user, _, password = first.partition(":")
    assert user == "outreach" and len(password) >= 24
    assert stat.S_IMODE(stack.auth_path().stat().st_mode) == 0o600
    stack.auth_path().chmod(0o644)
    assert stack.ensure_auth() == first == stack.auth_string()
    assert stat.S_IMODE(stack.auth_path().stat().st_mode) == 0o600
    assert stack.basic("outreach:x") == "Basic b3V0cmVhY2g6eA=="
