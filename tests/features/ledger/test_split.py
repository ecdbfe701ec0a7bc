"""bot/features/ledger/split.py: equal splits with leftover cents in a fixed order, and settling."""

from __future__ import annotations

import itertools
import random

import pytest

from bot.features.ledger.split import Expense, Payment, net_positions, settle, split_equally, split_order


def test_leftover_cents_go_to_the_others_first_then_the_payer() -> None:
    order = split_order("alice", ["alice", "bob", "carol"])
    assert order == ["bob", "carol", "alice"]
    assert split_equally(2317, order) == [("bob", 773), ("carol", 772), ("alice", 772)]
    assert split_equally(2318, order) == [("bob", 773), ("carol", 773), ("alice", 772)]
    assert split_equally(3, ["a", "b", "c", "d"]) == [("a", 1), ("b", 1), ("c", 1), ("d", 0)]
    assert split_equally(100, []) == []


def test_a_payer_who_left_is_not_in_the_split() -> None:
    assert split_order("zoe", ["bob", "carol"]) == ["bob", "carol"]


def test_net_and_settle() -> None:
    order = split_order("alice", ["alice", "bob", "carol"])
    net = net_positions([Expense("alice", split_equally(2317, order))], [], order=["alice", "bob", "carol"])
    assert net == {"alice": 1545, "bob": -773, "carol": -772}
    assert settle(net) == [Payment("bob", "alice", 773), Payment("carol", "alice", 772)]
    paid = net_positions(
        [Expense("alice", split_equally(2317, order))], [Payment("bob", "alice", 773)], order=["alice"]
    )
    assert settle(paid) == [Payment("carol", "alice", 772)]


def test_settle_refuses_positions_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="zero"):
        settle({"a": 1})


def test_settle_uses_at_most_n_minus_one_payments_and_zeroes_everyone() -> None:
    rng = random.Random(12)
    for _ in range(200):
        n = rng.randint(2, 7)
        values = [rng.randint(-5000, 5000) for _ in range(n - 1)]
        net = {f"p{i}": v for i, v in enumerate([*values, -sum(values)])}
        payments = settle(net)
        assert len(payments) <= n - 1
        left = dict(net)
        for p in payments:
            assert p.amount > 0
            left[p.payer] += p.amount
            left[p.payee] -= p.amount
        assert set(left.values()) <= {0}


def test_settle_finds_the_obvious_pairs() -> None:
    # two independent debts: greedy pays each directly, no payment through a third person
    net = {"a": 500, "b": -500, "c": 200, "d": -200}
    assert sorted((p.payer, p.payee, p.amount) for p in settle(net)) == [("b", "a", 500), ("d", "c", 200)]
    assert list(itertools.chain(settle({"a": 0, "b": 0}))) == []
