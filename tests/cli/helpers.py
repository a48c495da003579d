"""Running the `outreach` CLI in-process (CliRunner) against the `db_url` database."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from outreach.cli.main import app

CODE = re.compile(r"\b\d+-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")
runner = CliRunner()


def outreach(*args: str, code: str | None = None, input: str | None = None, env=None):
    """Run one command; ``code`` is the caller's access code (OUTREACH_TOKEN)."""
    env = dict(env or {})
    if code is not None:
        env["OUTREACH_TOKEN"] = code
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def first_code(text: str) -> str:
    m = CODE.search(text)
    assert m, f"no access code in {text!r}"
    return m.group(0)


def bootstrap(branch: str = "North") -> tuple[str, str]:
    """Upgrade, add a coordinator and a volunteer; returns (coordinator code, volunteer code)."""
    assert outreach("db", "upgrade").exit_code == 0
    r = outreach("volunteer", "add", "Ann Coordinator", "--branch", branch, "--coordinator")
    assert r.exit_code == 0, r.output
    coord = first_code(r.stdout)
    r = outreach("volunteer", "add", "Bob Volunteer", "--branch", branch, code=coord)
    assert r.exit_code == 0, r.output
    return coord, first_code(r.stdout)
