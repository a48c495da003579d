"""Campaigns: planning a run (targeting, assignment over id ranges), shards, coverage."""
