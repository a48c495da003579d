"""The reliability suite (issue 6): load, crashes, hostile input, access, privacy."""
