"""The rules of a campaign: its limits (due days, batch size, shards) and the targeting
windows a coordinator may choose. The defaults come from one table in `db.codes`
(`CAMPAIGN_DEFAULTS`), which the models' column defaults read too.

Pure Python: no SQLAlchemy, no Prefect.
"""

from __future__ import annotations

from outreach.db.codes import CAMPAIGN_DEFAULTS, CampaignKind
from outreach.db.errors import BadInput
from outreach.i18n import N_, _
from outreach.tasks.kernel.rules import Limit

K = CampaignKind

#: A planned task is due this many days after planning.
DUE_DAYS = Limit(1, 90, CAMPAIGN_DEFAULTS["due_days"], N_("due days"))
#: Members per planning batch (one Prefect task each).
BATCH_SIZE = Limit(100, 200_000, 100_000, N_("the batch size"))
#: Shards of a campaign run planned in parallel on PostgreSQL, each its own flow run on
#: the work pool (`tasks.shards`); 0: one per online worker of the pool.
SHARDS = Limit(0, 64, 0, N_("shards"))

#: Targeting windows a coordinator may choose, per campaign kind, and the default:
#: survey — not confirmed within N days; phone visit — not reached within N days.
WINDOWS: dict[str, tuple[tuple[int, ...], int]] = {
    K.SURVEY: ((180, 365, 730), CAMPAIGN_DEFAULTS["window_days"]),
    K.PHONE_VISIT: ((14, 30, 60, 90), CAMPAIGN_DEFAULTS["cadence_days"]),
}


def check_window(kind: str, days: int | None) -> int | None:
    """``days`` if the kind takes a window and it is one of the allowed choices."""
    if days is None:
        return None
    choices = WINDOWS.get(str(kind), ((), 0))[0]
    if days not in choices:
        allowed = ", ".join(str(d) for d in choices) or _("none")
        raise BadInput(_("the window for {kind} takes one of: {allowed} (days)").format(
            kind=kind, allowed=allowed))
    return days
