"""The member's own link: what a member living away may see and do through it."""
