r"""Equal splits and the fewest payments that settle a room. Pure functions over minor units.

Splitting: a receipt `\SPLIT` reshaped goes by its weights (`split_by_weights`); any other, of
`amount` among n members, gives each `amount // n`; the `amount % n`
leftover cents go one each to the first members in the receipt's stored order. That order is
fixed when the receipt is saved (storage/ledger.py): the other members by when they joined the
room (then by user id), the payer last. So the payer never keeps a leftover cent while others
are in the room, and the same receipt always splits the same way.

Settling: each party's net position is what they paid for receipts minus their shares, plus
the payments they made minus the payments they received (positive: they are owed). The greedy
rule settles it: the largest debtor pays the largest creditor the smaller of the two amounts,
until everyone is at zero (ties broken by the order the parties were given). It needs at most
n-1 payments, and no payment runs through a third person. Finding the true minimum is NP-hard in
general (subset sums that cancel); the greedy rule is the standard one (Splitwise's "simplify
debts") and is exact for the common cases of one creditor or one debtor.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)


def split_equally(amount: int, members: Sequence[P]) -> list[tuple[P, int]]:
    """`amount` in minor units over `members` in their fixed order; the shares add up exactly."""
    if not members:
        return []
    base, leftover = divmod(amount, len(members))
    return [(m, base + (1 if i < leftover else 0)) for i, m in enumerate(members)]


def split_by_weights(amount: int, weighted: Sequence[tuple[P, int]]) -> list[tuple[P, int]]:
    r"""`amount` in proportion to each member's weight (`\SPLIT`'s shares, percentages in basis
    points, or exact amounts); the shares add up exactly: each gets the floor of its part, and the
    leftover cents go one each to the largest remainders (ties: the order given). Exact amounts
    that add up to `amount` come back unchanged."""
    total = sum(weight for _, weight in weighted)
    if not weighted or total <= 0:
        return []
    parts = [(member, amount * weight // total, amount * weight % total) for member, weight in weighted]
    leftover = amount - sum(part for _, part, _ in parts)
    lucky = sorted(range(len(parts)), key=lambda i: -parts[i][2])[:leftover]
    return [(member, part + (1 if i in lucky else 0)) for i, (member, part, _) in enumerate(parts)]


def split_order(payer: P, members_by_join: Sequence[P]) -> list[P]:
    """The order leftover cents go in: the other members as given (by join time), the payer last."""
    others = [m for m in members_by_join if m != payer]
    return [*others, payer] if payer in members_by_join else others


@dataclass(frozen=True)
class Expense(Generic[P]):
    payer: P
    shares: Sequence[tuple[P, int]]


@dataclass(frozen=True)
class Payment(Generic[P]):
    payer: P
    payee: P
    amount: int


def net_positions(
    expenses: Iterable[Expense[P]], payments: Iterable[Payment[P]], order: Sequence[P] = ()
) -> dict[P, int]:
    """Each party's position (positive: owed to them). Parties in `order` come first, in it."""
    net: dict[P, int] = dict.fromkeys(order, 0)
    for expense in expenses:
        total = sum(share for _, share in expense.shares)
        net[expense.payer] = net.get(expense.payer, 0) + total
        for member, share in expense.shares:
            net[member] = net.get(member, 0) - share
    for payment in payments:
        net[payment.payer] = net.get(payment.payer, 0) + payment.amount
        net[payment.payee] = net.get(payment.payee, 0) - payment.amount
    return net


def settle(net: Mapping[P, int]) -> list[Payment[P]]:
    """The payments that bring every position to zero: largest debtor to largest creditor."""
    if sum(net.values()) != 0:
        raise ValueError("positions do not add up to zero")
    rank = {p: i for i, p in enumerate(net)}
    owed = {p: v for p, v in net.items() if v > 0}
    owes = {p: -v for p, v in net.items() if v < 0}
    result: list[Payment[P]] = []
    while owed and owes:
        creditor = min(owed, key=lambda p: (-owed[p], rank[p]))
        debtor = min(owes, key=lambda p: (-owes[p], rank[p]))
        amount = min(owed[creditor], owes[debtor])
        result.append(Payment(payer=debtor, payee=creditor, amount=amount))
        for book, party in ((owed, creditor), (owes, debtor)):
            book[party] -= amount
            if book[party] == 0:
                del book[party]
    return result


__all__ = [
    "Expense",
    "Payment",
    "net_positions",
    "settle",
    "split_by_weights",
    "split_equally",
    "split_order",
]
