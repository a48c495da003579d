"""The ledger's own rules: where a member lives, as a ledger file says it.

Pure Python: no SQLAlchemy, no Prefect.
"""

from __future__ import annotations

from outreach.db.codes import Residence
from outreach.db.errors import BadInput, shown


#: Where a member lives, as a ledger file says it (English or Chinese) → `Residence`.
RESIDENCE_WORDS = {"local": Residence.LOCAL, "away": Residence.AWAY,
                   "本地": Residence.LOCAL, "外出": Residence.AWAY}


def parse_residence(value: str, what: str) -> Residence:
    """local/away (any case) or 本地/外出; empty means local; else BadInput naming ``what``
    (the value shown only through `shown`: a shifted cell can hold an address)."""
    from outreach.i18n import _

    word = value.strip().lower()
    if not word:
        return Residence.LOCAL
    if word in RESIDENCE_WORDS:
        return RESIDENCE_WORDS[word]
    raise BadInput(_("{what} must be local or away (本地 or 外出), not {value}")
                   .format(what=what, value=shown(value)))
