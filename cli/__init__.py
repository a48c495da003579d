"""The `outreach` command line (Typer). The volunteer path never imports Prefect."""
