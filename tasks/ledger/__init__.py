"""The ledger: members, branches and the tree, import and export, movements, the member
card and counts, the audit, backups, and the access log (who was shown whose contact
details)."""
