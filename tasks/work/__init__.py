"""The task engine campaigns, meetings and care share: giving and assigning tasks, work lists,
recording outcomes (the outcome table in `rules`), follow-up, results, run sheets."""
