"""Made-up but realistic ledgers (`seed.generate.seed_ledger`)."""
