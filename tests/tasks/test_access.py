"""Access codes: the format, how long a wrong code waits, and who an actor can be."""

from __future__ import annotations

import dataclasses

import pytest

import outreach.tasks.access.permissions as access
from outreach.db.errors import BadInput, Refused
from outreach.tasks.access.permissions import (
    SYSTEM, Actor, authenticate, format_code, hash_secret, login_delay, new_credentials,
    parse_code,
)
from tests.conftest import SHIPPED_BASE_DELAY
from tests.db import factories as f


def test_a_wrong_code_waits_one_second_doubled_in_a_row_up_to_30_s(monkeypatch):
    assert SHIPPED_BASE_DELAY == 1.0, "the slow-down as shipped"
    monkeypatch.setattr(access, "BASE_DELAY", SHIPPED_BASE_DELAY)
    assert [login_delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert login_delay(10_000) == 30 and login_delay(-3) == 1


@pytest.mark.parametrize("value", ["0", "abc", "-5", ""])
def test_no_setting_switches_the_slow_down_off_or_breaks_it(monkeypatch, value):
    """Issue 10: OUTREACH_LOGIN_DELAY=0 switched it off and =abc was an internal error."""
    monkeypatch.setattr(access, "BASE_DELAY", SHIPPED_BASE_DELAY)
    monkeypatch.setenv("OUTREACH_LOGIN_DELAY", value)
    assert [login_delay(n) for n in (0, 1, 2)] == [1, 2, 4]


def test_codes_parse_back_and_hash_with_their_own_salt():
    secret, salt, digest = new_credentials()
    code = format_code(17, secret)
    vid, got = parse_code(code.lower())
    assert vid == 17 and hash_secret(got, salt) == digest
    assert hash_secret(secret, salt + "x") != digest
    with pytest.raises(BadInput, match="not an access code"):
        parse_code("17-SHORT")


def test_an_actor_is_built_only_by_authentication(session):
    with pytest.raises(TypeError, match="authenticate"):
        Actor(id=1, name="me", role="coordinator", branch_id=1)
    with pytest.raises(TypeError, match="authenticate"):
        Actor(1, "me", "coordinator", 1, object())  # a key of one's own is no key
    vol, secret = f.volunteer(session, with_secret=True)
    me = authenticate(session, format_code(vol.id, secret))
    assert (me.id, me.role, me.is_coordinator, me.is_system) == (vol.id, "volunteer", False,
                                                                 False)
    with pytest.raises((TypeError, ValueError)):
        dataclasses.replace(me, role="coordinator")  # no promotion by copy
    with pytest.raises(dataclasses.FrozenInstanceError):
        me.role = "coordinator"  # type: ignore[misc]
    assert f.actor(session, vol, secret) == me


def test_the_system_actor_is_nobody_and_no_coordinator():
    assert SYSTEM.is_system and not SYSTEM.is_coordinator and SYSTEM.id is None
    with pytest.raises(Refused, match="scheduled job"):
        access.require_coordinator(SYSTEM)
    for rule in (access.PERSON, access.COORDINATOR):
        with pytest.raises(Refused):
            access.check(rule, SYSTEM)
    access.check(access.COUNTS, SYSTEM)  # counts only: allowed


def test_a_wrong_code_asks_for_the_delay_of_its_volunteer(session, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(access, "BASE_DELAY", 0.5)
    monkeypatch.setattr(access.time, "sleep", waits.append)
    vol, secret = f.volunteer(session, with_secret=True)
    vol.failed_logins = 2
    _, others_secret = f.volunteer(session, with_secret=True)
    with pytest.raises(Refused, match="wrong access code"):
        authenticate(session, format_code(vol.id, others_secret))
    assert waits == [2.0], "0.5 s doubled for each of the two wrong codes before"
    access._pending.clear()
