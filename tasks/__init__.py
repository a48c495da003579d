"""The outreach steps, free of Prefect: the CLI and the flows call these same functions."""
