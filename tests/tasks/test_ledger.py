"""Reading ledger files: hostile and odd input is refused with its line, never crashes."""

from __future__ import annotations

import pytest

from db.errors import BadInput
from tasks.ledger import COLUMNS, LedgerFileError, read_ledger

HEADER = ",".join(COLUMNS)


def read(text: str | bytes):
    import io

    return read_ledger(io.BytesIO(text.encode() if isinstance(text, str) else text))


def test_good_rows_parse_with_types():
    rows = read(HEADER + "\nA1,Mary,1940-02-03,555,North,AWAY,,x,Yes,,\n\nA2,Li,,,South,,,,0,,\n")
    assert [r["ledger_no"] for r in rows] == ["A1", "A2"]
    assert rows[0]["homebound"] is True and str(rows[0]["residence"]) == "away"
    assert rows[1]["_line"] == 4, "blank lines count"


@pytest.mark.parametrize("body, fragment", [
    ('A1,"Mary\n', "line 2"),                                   # quote never closed
    ("A1," + "x" * 70_000 + ",,,North,,,,,,", "line 2"),        # huge field
    ("A1,Mary\x07Bell,,,North,,,,,,", "control characters"),    # a bell in a name
    ("A1,Mary,1940-02-30,,North,,,,,,", "not a date"),          # absurd date
    ("A1,Mary,0001-01-01,,North,,,,,,", "not a possible birth date"),
    ("A1,Mary,,555-CALL-NOW,North,,,,,,", "phone"),
])
def test_hostile_rows_are_refused_by_line(body, fragment):
    with pytest.raises(LedgerFileError) as err:
        read(HEADER + "\n" + body + "\n")
    assert fragment in str(err.value) and "nothing was imported" in str(err.value)


def test_not_text_is_refused():
    with pytest.raises(BadInput, match="not UTF-8"):
        read(b"\xff\xfe" + HEADER.encode("utf-16-le"))
    with pytest.raises(BadInput, match="NUL"):
        read(HEADER + "\nA1,Ma\x00ry,,,North,,,,,,\n")
    with pytest.raises(BadInput, match="empty"):
        read("")


def test_sql_like_names_are_just_names():
    rows = read(HEADER + "\nA1,\"Robert'); DROP TABLE members;--\",,,North,,,,,,\n")
    assert rows[0]["name"] == "Robert'); DROP TABLE members;--"


def test_a_shifted_row_does_not_echo_contact_details():
    """Columns slipped by one: an address lands in residence, a phone in homebound; the
    refusal names the columns but never shows what is in them."""
    with pytest.raises(LedgerFileError) as err:
        read(HEADER + "\nA1,Mary,,,North,12 Elm Street,,,555 0199,,\n")
    text = str(err.value)
    assert "residence" in text and "homebound" in text
    assert "Elm" not in text and "555 0199" not in text
