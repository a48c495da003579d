"""Access codes: the format, and how long a wrong code waits."""

from __future__ import annotations

import pytest

from db.errors import BadInput
from tasks.access import format_code, hash_secret, login_delay, new_credentials, parse_code


def test_a_wrong_code_waits_longer_each_time_in_a_row_up_to_30_s(monkeypatch):
    monkeypatch.setenv("OUTREACH_LOGIN_DELAY", "1")
    assert [login_delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert login_delay(10_000) == 30
    monkeypatch.setenv("OUTREACH_LOGIN_DELAY", "0.25")
    assert [login_delay(n) for n in (0, 1, 2)] == [0.25, 0.5, 1.0]
    monkeypatch.setenv("OUTREACH_LOGIN_DELAY", "0")
    assert login_delay(50) == 0


def test_codes_parse_back_and_hash_with_their_own_salt():
    secret, salt, digest = new_credentials()
    code = format_code(17, secret)
    vid, got = parse_code(code.lower())
    assert vid == 17 and hash_secret(got, salt) == digest
    assert hash_secret(secret, salt + "x") != digest
    with pytest.raises(BadInput, match="not an access code"):
        parse_code("17-SHORT")
