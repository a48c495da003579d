"""Entry point of the `outreach` console script (filled in below)."""


def run() -> None:
    raise SystemExit("outreach: not built yet")
