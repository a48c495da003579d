"""The ledger service (`outreach serve`): the one door through which volunteers reach the
ledger from their own machines. It holds the database; callers hold only an access code."""
