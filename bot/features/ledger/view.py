"""What the gallery shows of a room's ledger: each receipt's amount and who paid it, the
settling payments, and the payments made (computed when the page is asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features.ledger.book import (
    LEFT,
    NEWER,
    Party,
    RoomLedger,
    amount_cannot_reach,
    room_ledger,
    shown_name,
)
from bot.features.ledger.money import converted_from, shown
from bot.features.ocr.total import NOT_RECEIPT
from storage import ledger as store
from storage.schema import payments, receipts


@dataclass(frozen=True)
class ReceiptLine:
    amount: str  # "$23.17", "$4.52 (¥678 at 0.006667)", "€12.50 (not counted)", or "" (no amount yet)
    paid_by: str
    split: str = ""  # "Bob $12.50, Carol $17.50" for a receipt `\\SPLIT` reshaped; "" for an equal split
    note: str = ""  # why it is not counted, or that it needs an amount ("" when counted)
    # what a statement's CSV says of it, in words a spreadsheet can filter on: counted, needs an
    # amount, taken out, duplicate, not a receipt, other currency
    status: str = "counted"


@dataclass(frozen=True)
class LedgerView:
    currency: str
    receipts: dict[str, ReceiptLine]  # by receipt id
    settle: list[str]  # "Bob pays Alice $7.73"
    positions: list[str]  # "Alice: owed $15.45" (only those not settled)
    payments: list[PaymentLine]  # newest first
    book: RoomLedger


@dataclass(frozen=True)
class PaymentLine:
    at: float
    payer: str  # as the room shows them
    payee: str
    amount: str  # "$11.45"
    minor: int
    currency: str

    @property
    def text(self) -> str:
        return f"{self.payer} paid {self.payee} {self.amount}"


# what the gallery says of each (an other-currency receipt shows "(not counted)" by its amount)
NOTES = {
    "duplicate": "not counted: it repeats another receipt",
    "not a receipt": "not counted: it doesn't look like a receipt",
    # its sender's: \\AMOUNT sets the last receipt of whoever sends it (another member who took
    # the page's "\\AMOUNT 12.34" for theirs to send changed their own receipt)
    "needs an amount": "needs an amount: its sender can reply \\AMOUNT {example}",
    "taken out": "taken out with \\AMOUNT 0",
}
GONE_SENDER = "not counted: no amount, and its sender has left"
OTHER_CURRENCY = "in a {code} room: its sender can reply \\AMOUNT {example} to count it in {code}"
OTHER_CURRENCY_GONE = "in a {code} room, and its sender has left"
# a receipt its sender's \\AMOUNT can no longer reach: they have sent receipts since
NEWER_SENT = "not counted: no amount, and its sender's \\AMOUNT now sets their newer receipt"
OTHER_CURRENCY_NEWER = "in a {code} room; its sender's \\AMOUNT now sets their newer receipt"


def _shares_text(book: RoomLedger, shares: tuple[tuple[Party, int], ...]) -> str:
    """ "Bob $12.50, Carol $17.50": each share, in the order given."""
    return ", ".join(f"{book.name(party)} {book.currency.format(share)}" for party, share in shares)


def shares_text(book: RoomLedger, receipt_id: str) -> str:
    """Who shared a counted receipt and how much ("" for one not counted), in the room's order
    (members by when they joined, a former member last), as README says of the CSV: not the
    stored order, which turns one further each receipt for its leftover cents (a `\\SPLIT me 2
    bob 1 cat 1` was listed Bob, Cat, Ann: the payer last). A statement's CSV names them for every
    receipt; the pages only for a `\\SPLIT`'s."""
    order: dict[Party, int] = {p: i for i, p in enumerate(book.names) if p is not None}
    shares = sorted(book.shares_of(receipt_id), key=lambda share: order.get(share[0], len(order)))
    return _shares_text(book, tuple(shares))


def receipt_status(r: Any, room_currency: str) -> str:
    """Where a receipt (a row, or a ReceiptAmount) stands in its room's ledger: counted, needs an
    amount, taken out, duplicate, not a receipt, other currency."""
    if r.amount_minor is None and r.duplicate_of is not None:
        return "duplicate"
    if r.amount_minor is None and r.ocr_status == NOT_RECEIPT:
        return "not a receipt"
    if r.amount_minor is None:
        return "needs an amount"
    if r.amount_minor == 0:
        return "taken out"
    if (r.currency or room_currency) != room_currency:
        return "other currency"
    return "counted"


async def ledger_view(
    conn: AsyncConnection,
    room_id: str,
    receipt_ids: list[str],
    *,
    since: float | None = None,
    until: float | None = None,
    at_until: store.Book | None = None,
) -> LedgerView:
    """The lines of `receipt_ids`; the balances now, or at `until`; the payments (the newest 200,
    or all made in [since, until)). `at_until`: the room's book at `until`, read already."""
    book = await room_ledger(conn, room_id, until, book=at_until)
    cur = book.currency
    lines: dict[str, ReceiptLine] = {}
    if receipt_ids:
        rows = (
            await conn.execute(
                sa.select(
                    receipts.c.id,
                    receipts.c.uploader_id,
                    receipts.c.uploader_phone_masked,
                    receipts.c.amount_minor,
                    receipts.c.currency,
                    receipts.c.ocr_status,
                    receipts.c.duplicate_of,
                    receipts.c.message_sid,
                    receipts.c.original_minor,
                    receipts.c.original_currency,
                    receipts.c.original_rate,
                ).where(receipts.c.id.in_(receipt_ids))
            )
        ).all()
        latest = await store.latest_messages(conn, room_id, {r.uploader_id for r in rows})
        # uploaders the balances do not name (only uncounted receipts of theirs): left, or left by
        # \\STOP (a former-member row then holds their receipts: "a former member", SPEC)
        off_books = {int(r.uploader_id) for r in rows if r.uploader_id is not None} - set(book.names)
        people = await store.people(conn, off_books)
        formers = set(book.formers) | {p.user_id for p in people.values() if store.is_former(p)}
        for r in rows:
            payer = None if r.uploader_id is None else int(r.uploader_id)
            amount = ""
            if r.amount_minor:
                code = str(r.currency or cur.code)
                amount = shown(int(r.amount_minor), code)
                if r.original_minor is not None and r.original_currency and r.original_rate:
                    # `$4.52 (¥678 at 0.006667)`: where a converted amount came from
                    amount += " " + converted_from(
                        int(r.original_minor), r.original_currency, r.original_rate
                    )
                if code != cur.code:
                    amount += " (not counted)"
            if payer is None or payer in formers:  # gone, or left by \\STOP: "a former member" (SPEC)
                paid_by = None
            else:  # someone who has left with nothing on the books: the name the room knew (SPEC:
                # a member who left keeps the name they had), else the number the receipt recorded
                person = people.get(payer)
                named = shown_name(person) if person is not None else None
                paid_by = book.names.get(payer) or named or r.uploader_phone_masked
            status = receipt_status(r, cur.code)
            # a \\SPLIT's shares in the room's order, as the CSV beside the page lists them: in
            # the stored order (the payer last, the others turning one along each receipt) the
            # same people came in another order from receipt to receipt
            split = shares_text(book, str(r.id)) if str(r.id) in book.splits else ""
            note = NOTES.get(status, "").format(example=cur.example)
            # only a member can send the \\AMOUNT, and it sets the receipts of their last message
            # with any in the room: following "its sender can reply \\AMOUNT" under an older one
            # changed the amount of their newer receipt
            why = amount_cannot_reach(payer, str(r.message_sid), book.member_ids, latest)
            if status == "needs an amount" and why:
                note = GONE_SENDER if why == LEFT else NEWER_SENT  # LEFT: no one can send it
            elif status == "other currency":  # its amount said "(not counted)", and not why or how
                how = {"": OTHER_CURRENCY, LEFT: OTHER_CURRENCY_GONE, NEWER: OTHER_CURRENCY_NEWER}[why]
                note = how.format(code=cur.code, example=cur.example)
            lines[str(r.id)] = ReceiptLine(
                amount=amount,
                paid_by=paid_by or book.name(None),
                split=split,
                note=note,
                status=status,
            )
    settle = [
        f"{book.name(p.payer)} pays {book.name(p.payee)} {cur.format(p.amount)}" for p in book.settlement
    ]
    positions = []
    for party, value in book.net.items():
        if value > 0:
            positions.append(f"{book.name(party)}: owed {cur.format(value)}")
        elif value < 0:
            positions.append(f"{book.name(party)}: owes {cur.format(-value)}")
    window = []
    if since is not None:
        window.append(payments.c.created_at >= since)
    if until is not None:
        window.append(payments.c.created_at < until)
    query = (
        sa.select(payments)
        .where(payments.c.room_id == room_id, *window)
        .order_by(payments.c.created_at.desc(), payments.c.id.desc())
    )
    prow = (await conn.execute(query if window else query.limit(200))).all()
    paid = [
        PaymentLine(
            at=float(p.created_at),
            payer=book.name(None if p.payer_id is None else int(p.payer_id)),
            payee=book.name(None if p.payee_id is None else int(p.payee_id)),
            amount=shown(int(p.amount_minor), str(p.currency)),
            minor=int(p.amount_minor),
            currency=str(p.currency),
        )
        for p in prow
    ]
    return LedgerView(cur.code, lines, settle, positions, paid, book)


__all__ = ["LedgerView", "PaymentLine", "ReceiptLine", "ledger_view", "receipt_status", "shares_text"]
