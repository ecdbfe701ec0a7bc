r"""Equal splits and the fewest payments that settle a room. Pure functions over minor units.

Splitting: a receipt `\SPLIT` reshaped goes by its weights (`split_by_weights`); any other, of
`amount` among n members, gives each `amount // n`; the `amount % n`
leftover cents go one each to the first members in the receipt's stored order. That order is
fixed when the receipt is saved (storage/ledger.py): the other members by when they joined the
room (then by user id), starting one further along for each receipt the room has already and
wrapping round, the payer last. So the payer never keeps a leftover cent while others are in
the room, the leftover cents of a season go round the members evenly, and the same receipt
always splits the same way.

Settling: each party's net position is what they paid for receipts minus their shares, plus
the payments they made minus the payments they received (positive: they are owed). The greedy
rule settles it: the largest debtor pays the largest creditor the smaller of the two amounts,
until everyone is at zero (ties broken by the order the parties were given). It needs at most
n-1 payments, and no payment runs through a third person. The fewest payments are n minus the
most groups the parties fall into whose positions cancel (finding them is NP-hard in general):
for up to `EXACT_PARTIES` parties with money open (a household) they are found exactly, over
subsets, and each group is settled by the greedy rule; with more, the greedy rule alone (the
standard one, Splitwise's "simplify debts") settles the room. Greedy alone could ask for a
payment too many: with Ann -3, Ben +5, Cat -3, Dan -5, Eve +6 it gave four where Dan paying Ben
$5 and Ann and Cat paying Eve $3 each settle it in three.
"""

from __future__ import annotations

from collections import Counter
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


def split_order(payer: P, members_by_join: Sequence[P], turn: int = 0) -> list[P]:
    """The order leftover cents go in: the other members as given (by join time), starting `turn`
    places along and wrapping round (a receipt's turn in its room), the payer last. Starting
    with the first to join every time, a club's earliest members paid nearly every leftover cent:
    over 300 receipts split 35 ways the first paid $2.95 more than their share, the last $0.31."""
    others = [m for m in members_by_join if m != payer]
    if others:
        start = turn % len(others)
        others = others[start:] + others[:start]
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


def expenses_net(
    receipts: Iterable[tuple[P, int, Sequence[P], Sequence[tuple[P, int]] | None]],
    net: dict[P, int] | None = None,
) -> dict[P, int]:
    """`net_positions` of receipts, each (payer, amount, members in their fixed order, its shares
    when not an equal split), added to `net` (its order kept; parties new to it come in the order
    `net_positions` meets them): the same numbers, without a share per member per equal split. A
    40-member club's 2,500 receipts made 100,000 shares, 40-50 ms of Python on the event loop at
    each `\\BALANCE` and each of its pages (bench/ledger.py); equal splits' bases are summed per
    set of members (nearly always one: the room) and their leftover cents counted in C
    (`Counter.update`)."""
    out: dict[P, int] = {} if net is None else net
    paid: dict[P, int] = {}
    bases: dict[frozenset[P], int] = {}
    owed: Counter[P] = Counter()  # what each owes beyond the bases: leftover cents, `\\SPLIT` shares
    for payer, amount, members, shares in receipts:
        if payer not in out:
            out[payer] = 0
        if shares is not None:  # `\\SPLIT`'s shares: as given
            paid[payer] = paid.get(payer, 0) + sum(share for _, share in shares)
            for member, share in shares:
                if member not in out:
                    out[member] = 0
                owed[member] += share
            continue
        if not members:  # no one shares it: the payer's own (their whole amount, so nothing)
            continue
        if not out.keys() >= set(members):
            for member in members:
                if member not in out:
                    out[member] = 0
        base, leftover = divmod(amount, len(members))
        paid[payer] = paid.get(payer, 0) + amount
        group = frozenset(members)
        if len(group) == len(members):
            bases[group] = bases.get(group, 0) + base
        else:  # a member twice (never stored so): each place is a share, as split_equally gives
            owed.update({m: base * members.count(m) for m in group})
        owed.update(members[:leftover])
    for payer, amount in paid.items():
        out[payer] += amount
    for group, base in bases.items():
        for member in group:
            out[member] -= base
    for member, minor in owed.items():
        out[member] -= minor
    return out


# the most parties with money open whose fewest payments are searched for exactly: 2^n subsets,
# about 10,000 steps for 10 (a few milliseconds); past it the greedy rule alone
EXACT_PARTIES = 10


def _cancelling_groups(values: Sequence[int]) -> list[list[int]]:
    """The indices of `values` (which add up to zero) in the most groups that each add up to
    zero: `dp[mask]` is the most such groups among an order of `mask`'s members that closes a group
    each time its running sum is zero (the standard bitmask search)."""
    n = len(values)
    full = (1 << n) - 1
    sums = [0] * (full + 1)
    most = [0] * (full + 1)
    last = [0] * (full + 1)
    for mask in range(1, full + 1):
        low = (mask & -mask).bit_length() - 1
        sums[mask] = sums[mask & (mask - 1)] + values[low]
        best, pick = -1, 0
        for i in range(n):
            if mask >> i & 1 and most[mask ^ (1 << i)] > best:
                best, pick = most[mask ^ (1 << i)], i
        most[mask] = best + (1 if sums[mask] == 0 else 0)
        last[mask] = pick
    order: list[int] = []
    mask = full
    while mask:
        order.append(last[mask])
        mask ^= 1 << last[mask]
    groups: list[list[int]] = []
    group: list[int] = []
    running = 0
    for i in reversed(order):
        group.append(i)
        running += values[i]
        if running == 0:
            groups.append(group)
            group = []
    return groups


def settle(net: Mapping[P, int]) -> list[Payment[P]]:
    """The fewest payments that bring every position to zero (exactly for up to `EXACT_PARTIES`
    parties with money open; else the greedy rule's): largest debtor to largest creditor."""
    if sum(net.values()) != 0:
        raise ValueError("positions do not add up to zero")
    payments = _greedy(net)
    open_ = [p for p, v in net.items() if v]
    if len(open_) > EXACT_PARTIES or len(payments) <= 1:
        return payments
    groups = _cancelling_groups([net[p] for p in open_])
    if len(payments) <= len(open_) - len(groups):
        return payments  # greedy found the fewest already (the common case): its order kept
    rank = {p: i for i, p in enumerate(net)}
    fewer = [
        payment for group in groups for payment in _greedy({open_[i]: net[open_[i]] for i in sorted(group)})
    ]
    return sorted(fewer, key=lambda pay: (-pay.amount, rank[pay.payer], rank[pay.payee]))


def _greedy(net: Mapping[P, int]) -> list[Payment[P]]:
    """Largest debtor pays largest creditor the smaller of the two, until all are at zero."""
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
