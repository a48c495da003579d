"""The branch tree, walked one way (`tasks.ledger.tree`): pure walks and the database reads."""

from __future__ import annotations

import pytest

from outreach.db.errors import NotFound
from outreach.tasks.ledger import tree
from tests.db import factories as f

#: 1 ← 2 ← 4, 1 ← 3; 5 alone; 6 ↔ 7 a loop in bad data.
PARENT = {1: None, 2: 1, 3: 1, 4: 2, 5: None, 6: 7, 7: 6}


def test_chains_go_up_to_the_root_and_stop_at_a_loop():
    chains = tree.chains_of(PARENT)
    assert chains[4] == (4, 2, 1) and chains[3] == (3, 1) and chains[5] == (5,)
    assert chains[6] == (6, 7) and chains[7] == (7, 6)


def test_subtree_and_covers():
    chains = tree.chains_of(PARENT)
    assert tree.subtree(chains, 1) == [1, 2, 3, 4]
    assert tree.subtree(chains, 2) == [2, 4] and tree.subtree(chains, 5) == [5]
    assert tree.covers(chains, 1, 4) and tree.covers(chains, 4, 4)
    assert not tree.covers(chains, 3, 4) and not tree.covers(chains, 4, 2)
    with pytest.raises(NotFound):
        tree.subtree(chains, 99)


def test_reads_from_the_database_and_finds_the_nearest_up(session):
    root = f.branch(session)
    mid = f.branch(session, parent=root)
    leaf = f.branch(session, parent=mid)
    other = f.branch(session)
    assert tree.ancestors(session, leaf.id) == (leaf.id, mid.id, root.id)
    assert tree.subtree_ids(session, mid.id) == [mid.id, leaf.id]
    assert other.id not in tree.subtree_ids(session, root.id)
    marks = {mid.id: "mid", root.id: "root"}
    assert tree.nearest_up(session, leaf.id, marks.get) == "mid"
    assert tree.nearest_up(session, other.id, marks.get) is None
