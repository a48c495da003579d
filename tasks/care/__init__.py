"""Care: care occasions (milestones, festivals, life events, hardship), contributions."""
