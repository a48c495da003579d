"""One volunteer of the load test (issue 6): list my tasks, then record outcomes on them.

    OUTREACH_TOKEN=<code> OUTREACH_DATABASE_URL=<url> \\
        python -m tests.reliability.load_volunteer --count 500 --today 2026-11-04 --out r.json

Every command goes through the real CLI code path — `cli.main.run`, the function behind
the ``outreach`` console script, with ``sys.argv`` set to the command and stdout/stderr
captured — called in this one process ``count`` + 1 times. Why in-process: a new Python
process per command costs about half a second of start-up (measured by
bench/bench_cli.py), so 4,000 commands as 4,000 processes would measure mostly
interpreter start-up on a 2-core machine, not the database under load. The price is
paid once per volunteer process here, and what is measured is what a volunteer waits for
after the interpreter is up: argument parsing, authentication with the access code
(``OUTREACH_TOKEN``), the schema check, the write transaction and its commit. One
difference from separate processes remains and is on purpose: the process-wide engine
keeps its pooled connection between commands, as a long-lived client would.

The volunteer first runs ``outreach tasks --kind phone_visit --format json`` (as a person
looks at the list before going out) and takes the first ``count`` tasks of it, then
records one outcome on each: a fixed mix of ``task done`` and ``task record`` with codes
valid for a phone visit. The mix leaves out the codes that would change who the
concurrently planned survey targets (wrong_number clears the confirmation date;
do_not_contact and moved change status or residence and cancel other tasks), so that the
parent can check the survey made exactly the tasks an undisturbed run makes.

Per command it keeps: the arguments (task id and outcome), exit code, stdout's first line
(ids and states only), stderr, wall-clock start and latency. The list command's output
(member names) is parsed for task ids and not kept. The result is one JSON document,
written to ``--out`` (or stdout) for the parent process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

#: One cycle of (command, outcome, note): 40% reached (half as `task done`), 20% no_answer,
#: 10% each left_message, callback_requested, refused, temporarily_away. All valid for a
#: phone visit (tasks.work.outcomes.OUTCOMES_BY_KIND); none changes survey targeting.
MIX: tuple[tuple[str, str, str | None], ...] = (
    ("done", "reached", None),
    ("record", "no_answer", "rang twice"),
    ("record", "reached", None),
    ("record", "left_message", None),
    ("record", "refused", "does not want calls this month"),
    ("done", "reached", "glad to hear from us"),
    ("record", "callback_requested", None),
    ("record", "no_answer", None),
    ("record", "temporarily_away", "at her daughter's until the 20th"),
    ("record", "reached", None),
)


def invoke(args: list[str]) -> tuple[int, str, str, float]:
    """Run ``outreach ARGS`` through `cli.main.run` in this process.

    Returns (exit code, stdout, stderr, seconds). `run` ends with SystemExit like the
    console script; anything else escaping it would be a bug in the harness, so it is
    allowed to propagate.
    """
    from outreach.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["outreach", *args]
    code: int = 0
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        took = time.perf_counter() - t0
        sys.argv = saved
    return code, out.getvalue(), err.getvalue(), took


def command(task_id: int, i: int, today: str) -> tuple[list[str], str]:
    """The i-th command of the mix for ``task_id`` and the outcome it records."""
    verb, outcome, note = MIX[i % len(MIX)]
    if verb == "done":
        args = ["task", "done", str(task_id)]
    else:
        args = ["task", "record", str(task_id), outcome, "--today", today]
    if note:
        args += ["--note", note]
    return args, outcome


def volunteer(count: int, today: str) -> dict:
    """List my phone visits, record ``count`` outcomes; the whole run as a dict."""
    started, cpu0 = time.time(), time.process_time()
    code, out, err, took = invoke(["tasks", "--kind", "phone_visit", "--status", "assigned",
                                   "--format", "json", "--today", today])
    listed = [t["id"] for t in json.loads(out)] if code == 0 else []
    result = {"pid": os.getpid(), "started": started,
              "list": {"exit": code, "stderr": err, "latency": took, "tasks": len(listed)},
              "commands": []}
    for i, task_id in enumerate(listed[:count]):
        args, outcome = command(task_id, i, today)
        at = time.time()
        code, out, err, took = invoke(args)
        result["commands"].append({
            "task": task_id, "outcome": outcome, "verb": args[1], "exit": code,
            "stdout": out.strip().splitlines()[0] if out.strip() else "",
            "stderr": err, "start": at, "latency": took})
    result["finished"] = time.time()
    #: CPU seconds this process spent on the commands (list and records).
    result["cpu_seconds"] = time.process_time() - cpu0
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=500, help="outcomes to record")
    ap.add_argument("--today", required=True, help="date of the visits (YYYY-MM-DD)")
    ap.add_argument("--out", help="write the JSON result here (default: stdout)")
    opts = ap.parse_args(argv)
    if not os.environ.get("OUTREACH_TOKEN"):
        ap.error("set OUTREACH_TOKEN to the volunteer's access code")
    # `task done` has no --today option: it records on the machine's date. The parent
    # checks outcomes by task, outcome and volunteer, so the date does not matter there.
    result = volunteer(opts.count, opts.today)
    text = json.dumps(result)
    if opts.out:
        with open(opts.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
