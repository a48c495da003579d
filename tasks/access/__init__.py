"""Who may do what: personal codes and the actor (`permissions`), one-run tickets,
Idempotency-Keys, the phone pages' sessions."""
