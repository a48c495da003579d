"""outreach: workflow and task tracking for home-visit outreach to elderly members.

One namespace: the project's folders install and import as ``outreach.db``,
``outreach.tasks``, ``outreach.flows``, ``outreach.cli``, ``outreach.service``,
``outreach.seed`` and ``outreach.i18n`` (``package-dir`` in pyproject.toml), so installing
outreach claims no generic top-level name such as ``db`` or ``tasks``.
"""
