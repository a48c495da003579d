"""The ledger: models, state machines, sessions and migrations.

`db` imports nothing else of ours; `tasks/` builds on it, `cli/` and `flows/` call `tasks/`.
"""
