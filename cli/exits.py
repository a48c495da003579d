"""What the command line says when it stops early. It imports nothing but the catalog, so
the entry point (`cli.main`) holds it before anything heavy loads, and the commands' edge
(`cli.common.edge`) says the same words."""

from __future__ import annotations

from outreach.i18n import N_

#: What a command says when Ctrl-C stops it (`cli.main.run`, `cli.common.edge`).
INTERRUPTED = N_("interrupted; nothing was written")
