"""The prefect.yaml a deploy uses: the project's, in the organisation's language and zone.

``prefect deploy`` takes each deployment's description, its triggers' names and
descriptions and its schedules' time zone from the YAML file as they are, and builds the
form (the parameter schema) by importing the flow: the form follows the deploying
process's ``OUTREACH_LANG`` (`flows.common.field`), the YAML does not. So `outreach stack
up` deploys from a copy (`write`, in ``$OUTREACH_HOME/stack/prefect.yaml``, with
``prefect deploy --prefect-file``): the texts below through ``_()``, every schedule in
the organisation's time zone (`db.settings.timezone`), and the delivery's default
material in the same language. The project's prefect.yaml stays the English original
(and the file to deploy by hand from); its texts are repeated here, word for word, so that
they are extracted into the catalog — tests/flows/test_zh.py checks that none is missing.

No Prefect here (the stack's CLI imports this): PyYAML and `i18n` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outreach.i18n import N_, _

#: Every text of prefect.yaml a person reads in the UI (descriptions, automations), as
#: prefect.yaml folds it (one line).
TEXTS = (
    N_("Yearly survey (census): every living member not confirmed within a year gets a "
       "visit or call to confirm address, phone and family contact."),
    N_("Monthly phone visits to members living away who were not reached in the last 30 "
       "days."),
    N_("Monthly delivery of the study materials to homebound members at their door."),
    N_("One shard of a survey, phone-visit or delivery run (PostgreSQL), started by that "
       "run with its run id: the members of some regions of the branch tree, planned and "
       "assigned by the same rule, so that several workers plan one campaign at once. "
       "Counts only."),
    N_("Daily follow-up: expire closed windows, fail exhausted tasks, escalate members who "
       "cannot be reached, reassign the tasks of inactive volunteers, list overdue tasks."),
    N_("follow-up after a failed campaign run"),
    N_("A survey, phone-visit or delivery run failed: run the follow-up sweep now."),
    N_("Daily care planning: milestone birthdays (80, 85, 90, 95, every year from 100), the "
       "Double Ninth and the Spring Festival (members 80 and over, and all homebound), life "
       "events and hardship months get a care visit within their window (7 days before to 7 "
       "after); windows closed without a visit become missed; members living away for six "
       "months get a coordinator's transfer task, once. Artifacts: counts only."),
    N_("Daily backup of the ledger into the backups folder of the outreach home (mode "
       "0600), kept only once checked: integrity, and every member's and task's history "
       "replayed. Older copies are pruned to the newest of each of the last 7 days and 4 "
       "weeks (the parameters). Artifact: the file's name, size, duration and counts."),
    N_("Weekly coverage report per branch and segment (away, homebound, local), and the "
       "volunteers' workload, as table and markdown artifacts."),
    N_("Weekly scorecard of the six haves per branch for this quarter (movements recorded, "
       "contact bridge, education, care, rights, role): green / amber / red against the "
       "goals, with the change from the last quarter, as markdown and table artifacts "
       "(branch names and figures only); emits outreach.scorecard.red for each red cell."),
    N_("Apply a results file (task_id,outcome,note,answers) from paper run sheets; bad rows "
       "are listed by line, nothing is applied twice. Who records is a run ticket from "
       "`outreach outcomes ticket` (one run, 15 minutes), never a volunteer id and never an "
       "access code: Prefect keeps run parameters in clear."),
    N_("Monthly check of organisational life: flags branches that did not hold what their "
       "cadence asks last month or quarter, gives out the make-up study a meeting closed in "
       "the last 30 days still lacks (a rerun creates nothing), and counts members six "
       "months without organisational life (counts only; names in `outreach meeting "
       "without-life`). Emits outreach.meeting.* events."),
    N_("Plan a branch's meeting from the browser (branch, kind, date, topic, material, "
       "place, remote option): members are invited, and members far away or homebound get "
       "a notice task when it is a week or more ahead. Who plans is a run ticket from "
       "`outreach meeting ticket` (one run, 15 minutes), never an id or an access code."),
    # Parameter values of prefect.yaml a person reads in the form.
    N_("Monthly study materials"),
)


def texts(config: dict) -> list[str]:
    """The texts of a loaded prefect.yaml that people read (what `localise` translates)."""
    out = []
    for d in config.get("deployments") or []:
        out += [d["description"]] if d.get("description") else []
        for t in d.get("triggers") or []:
            out += [t[k] for k in ("name", "description") if t.get(k)]
        out += [v for v in (d.get("parameters") or {}).values() if isinstance(v, str)]
    return out


def localise(config: dict, *, timezone: str) -> dict:
    """A loaded prefect.yaml with its texts in the current language and every schedule
    in ``timezone`` (changed in place and returned)."""
    defs = config.get("definitions") or {}
    if "schedule_tz" in defs:
        defs["schedule_tz"] = timezone
    for d in config.get("deployments") or []:
        if d.get("description"):
            d["description"] = _(d["description"])
        for t in d.get("triggers") or []:
            for k in ("name", "description"):
                if t.get(k):
                    t[k] = _(t[k])
        params = d.get("parameters") or {}
        for k, v in params.items():
            if isinstance(v, str) and v:  # _("") is the catalog's header
                params[k] = _(v)
        for s in d.get("schedules") or []:
            if isinstance(s, dict) and ("cron" in s or "rrule" in s or "interval" in s):
                s["timezone"] = timezone
    return config


def write(source: Path, target: Path, *, timezone: str) -> Path:
    """Write the localised copy of ``source`` (a prefect.yaml) to ``target``."""
    import yaml

    class _Plain(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # no &id001 anchors in the copy
            return True

    config = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    localise(config, timezone=timezone)
    head = ("# Generated by `outreach stack up` from {src} (the deployments in the "
            "organisation's\n# language and time zone); edit {src}, not this file.\n"
            ).format(src=Path(source).name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(head + yaml.dump(config, Dumper=_Plain, allow_unicode=True,
                                       sort_keys=False, width=100), encoding="utf-8")
    return target
