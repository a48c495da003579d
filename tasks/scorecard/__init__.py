"""The scorecard: how each branch stands on the six haves in a quarter."""
