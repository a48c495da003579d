"""`outreach serve`: run the ledger service (volunteers reach the ledger through it)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from outreach.cli.common import edge
from outreach.i18n import _

#: The service's port by default (`outreach demo` names it too).
PORT = 8765


def serve(
    host: Annotated[str, typer.Option(help=_("Address to listen on (keep 127.0.0.1 behind a "
                                             "reverse proxy that adds TLS)."))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_("Port to listen on."), min=1, max=65535)] = PORT,
    trusted_proxy: Annotated[Optional[list[str]], typer.Option(
        "--trusted-proxy", help=_("Address of the reverse proxy whose X-Forwarded-For names "
                                  "the real client (repeat; default: believe no proxy)."))
    ] = None,
) -> None:
    """Run the ledger service: an HTTP JSON API for the volunteers' commands.

    It holds this machine's ledger (OUTREACH_DATABASE_URL or ~/.outreach/outreach.db).
    Volunteers use it with `outreach login --server URL` and need no database.

    Every request carries the person's access code; wrong codes are slowed per person and
    per client address. OpenAPI at /docs, monitoring at /health.

    \b
    Examples:
      outreach serve
      outreach serve --trusted-proxy 127.0.0.1      (behind a reverse proxy on this machine)
    """
    _serve(host, port, trusted_proxy or [])


@edge
def _serve(host: str, port: int, trusted: list[str]) -> None:
    import uvicorn

    from outreach.service.app import create_app, server_options

    app = create_app()  # refuses a missing or old database in one line, before listening
    typer.echo(_("outreach ledger service on http://{host}:{port} (OpenAPI at /docs); "
                 "Ctrl-C stops it").format(host=host, port=port), err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", **server_options(trusted))
