"""Issue 6, load: 8 volunteer processes recording 500 outcomes each while a survey plans
200,000 tasks and the follow-up runs — then nothing is lost, doubled, or out of history.

Runs against whichever database the suite runs on (`db_url`: a fresh SQLite file, or the
PostgreSQL test database), with real processes: the volunteers are
`tests.reliability.load_volunteer` (the CLI code path in-process, 500 times each), the
survey and the follow-up are ``outreach campaign run survey`` and ``outreach follow-up``
through Prefect, pointed at the session's Prefect test harness (``PREFECT_API_URL``;
without it each process would start a temporary server of its own). The scenario,
its checks and the figures live in `tests.reliability.load` as plain functions, also
runnable alone: ``python -m tests.reliability.load [--database-url URL]``.

Measured on a shared 2-core machine: about 1.5–2.5 minutes on SQLite and 3 on PostgreSQL,
most of it the volunteers' 4,000 commands competing for the two cores (see the figures
printed with ``-s``; timings are noisy there, the counts are not).
"""

from __future__ import annotations

import pytest

from tests.reliability import load

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


@pytest.fixture
def prefect_api(prefect_harness) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def test_eight_volunteers_a_200k_survey_and_follow_up_at_once(db_url, prefect_api, engine,
                                                              tmp_path):
    # The session-wide test engine may hold a pooled connection to the PostgreSQL test
    # database; copying it as a template needs nobody connected (it reconnects on use).
    engine.dispose()
    world = load.build_world(db_url)
    assert world.survey_expected >= 200_000, "the survey must plan about 200,000 tasks"
    alone_url, alone_code = load.twin(world)
    try:
        alone = load.campaign_alone(alone_url, alone_code, prefect_api, tmp_path / "alone")
        run = load.run_load(world, prefect_api, tmp_path / "load")
        counts, problems = load.check(world, run, alone, alone_url, prefect_api,
                                      tmp_path / "check")
    finally:
        load.drop_twin(alone_url)
    print()
    print(load.format_figures(load.figures(world, run, alone, counts)))

    # Every process ran to the end; the coordinators' two exited 0.
    assert sorted(run.volunteers) == sorted(world.volunteers), run.problems
    assert run.campaign.returncode == 0, load._tail(run.campaign.stderr)
    assert run.followup.returncode == 0, load._tail(run.followup.stderr)
    # Each of the 4,000 commands exited 0 with nothing on stderr — no refusal is
    # legitimate here: every task is the volunteer's own, assigned, and gets one outcome
    # valid for its kind — and none saw a lock, a busy database or a crash.
    failed = [(vid, c["task"], c["outcome"], c["exit"], c["stderr"].strip())
              for vid, res in run.volunteers.items() for c in res["commands"]
              if c["exit"] != 0 or c["stderr"].strip()]
    assert not failed, f"{len(failed)} commands failed, first: {failed[:5]}"
    assert sum(len(res["commands"]) for res in run.volunteers.values()) == \
        load.VOLUNTEERS * load.OUTCOMES_EACH
    # Each recorded outcome once in `attempts` (task, outcome, volunteer), nothing else.
    assert counts["attempts"] == counts["commands_ok"] == load.VOLUNTEERS * load.OUTCOMES_EACH
    # Every transition has its history row: the history replays to every state.
    assert {k: v for k, v in counts.items()
            if k.startswith("replay_") and k.endswith(("_chain", "_mismatch"))} == {
        "replay_members_broken_chain": 0, "replay_members_mismatch": 0,
        "replay_tasks_broken_chain": 0, "replay_tasks_mismatch": 0}
    assert "all consistent" in counts["db_check"]
    # Exactly the survey an undisturbed run makes, as its dry run counted beforehand.
    assert counts["survey_tasks"] == counts["survey_tasks_alone"] == world.survey_expected
    # And everything else `check` looked at: outcomes matched one by one, one history row
    # into done per closed task, no (run, member) twice, no member with two open tasks of
    # one kind, the same survey member set as the twin's.
    assert not problems, "\n".join(problems)
