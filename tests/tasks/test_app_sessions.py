"""A phone's session (`tasks.access.sessions`): only a hash is kept; it stands for its
volunteer until logout, 30 idle days, a new access code or the volunteer's deactivation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from outreach.db.errors import Refused
from outreach.db.models import AppSession
from outreach.tasks.access import sessions as app_sessions
from outreach.tasks.access.permissions import new_credentials
from tests.db import factories as f

NOW = dt.datetime(2026, 11, 3, 9, 0)


@pytest.fixture
def bob(session):
    return f.actor(session, f.volunteer(session, name="Bob"))


def test_a_session_stands_for_its_volunteer_and_keeps_only_a_hash(session, bob):
    token = app_sessions.start(session, actor=bob, now=NOW)
    visit = app_sessions.check(session, token, now=NOW + dt.timedelta(minutes=5))
    assert (visit.actor.id, visit.actor.name, visit.due) == (bob.id, "Bob", False)
    stored = session.scalars(select(AppSession.token_hash)).all()
    assert token not in stored and token.rsplit("-", 1)[1] not in stored
    assert app_sessions.check(session, token, now=NOW + dt.timedelta(hours=2)).due


def test_30_idle_days_end_it_and_a_touch_renews_it(session, bob):
    token = app_sessions.start(session, actor=bob, now=NOW)
    later = NOW + dt.timedelta(days=29)
    visit = app_sessions.check(session, token, now=later)
    app_sessions.touch(session, actor=bob, session_id=visit.session_id, now=later)
    assert app_sessions.check(session, token, now=later + dt.timedelta(days=29))
    with pytest.raises(Refused, match="log in again"):
        app_sessions.check(session, token, now=later + dt.timedelta(days=30, seconds=1))
    assert app_sessions.purge_idle(session, now=later + dt.timedelta(days=31)) == 1
    assert session.scalar(select(func.count()).select_from(AppSession)) == 0


def test_logout_a_new_code_or_deactivation_end_it(session, bob):
    vol = f.volunteer(session)
    other = f.actor(session, vol)
    token = app_sessions.start(session, actor=bob, now=NOW)
    assert not app_sessions.end(session, actor=other, token=token), "not theirs to end"
    assert app_sessions.end(session, actor=bob, token=token)
    with pytest.raises(Refused):
        app_sessions.check(session, token, now=NOW)
    token = app_sessions.start(session, actor=other, now=NOW)
    __, vol.code_salt, vol.code_hash = new_credentials()  # a new access code
    session.flush()
    with pytest.raises(Refused):
        app_sessions.check(session, token, now=NOW)
    third = f.volunteer(session)
    token = app_sessions.start(session, actor=f.actor(session, third), now=NOW)
    third.active = False
    session.flush()
    with pytest.raises(Refused):
        app_sessions.check(session, token, now=NOW)
    for junk in (None, "", "s-1-xyz", f"s-{third.id}-" + "0" * 64, "x" * 500):
        with pytest.raises(Refused):
            app_sessions.check(session, junk, now=NOW)
