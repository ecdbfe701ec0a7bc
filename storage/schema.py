"""The database schema, as SQLAlchemy Core tables (SQLite for the embedded default, PostgreSQL later).

Times are Unix seconds (float, UTC). Migrations under storage/migrations create exactly these tables;
a test compares the two.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# People who text the number. `phone` is E.164.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phone", sa.String(32), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("opted_out_at", sa.Float),
    sa.Column("active_room_id", sa.String(36), sa.ForeignKey("rooms.id", ondelete="SET NULL")),
    # X account (issue 4)
    sa.Column("x_user_id", sa.String(64)),
    sa.Column("x_handle", sa.String(64)),
    sa.Column("x_needs_relink", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("x_relink_notified_at", sa.Float),
    # per-sender rate limit: when the slow-down notice was last sent
    sa.Column("slowdown_notified_at", sa.Float),
    # how the person's rooms see them (\NAME, issue 12); name_key is case-folded
    sa.Column("name", sa.String(20)),
    sa.Column("name_key", sa.String(20)),
)

# Where a person (a users row) is reached: one row a channel's address, each address one person's
# (migration 0017). `address`: the address as stored everywhere (`bot.core.channel.Address.key`:
# an E.164 number or short code for SMS, `whatsapp:+E164`, `telegram:<chat id>`); `channel` is
# its prefix, else "sms" (migration 0018 moved the whatsapp: rows 0017 had put under "sms").
# `opted_out`: nothing may be sent to this address. Every user's phone has its row
# (storage/users.py creates them together; users.opted_out stays what the sender reads);
# former-member rows (storage/ledger.py) have none. Deleting the user deletes its addresses.
addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    # migration 0020: the name the channel last gave this address (Telegram's first name)
    sa.Column("label", sa.String(64)),
    # migration 0031: when a `\PAIR <code>` joined it to its person (NULL: its first address, or
    # paired before 0031); one paired in the last 24 hours takes no other out (`\UNPAIR`)
    sa.Column("paired_at", sa.Float),
    sa.UniqueConstraint("channel", "address"),
    sa.Index("ix_addresses_user_id", "user_id"),
    sa.Index("ix_addresses_address", "address"),  # migration 0019: by the address alone
)

# `\PAIR`'s codes (migration 0019): asked for from one address, good for 10 minutes and one use,
# to join another address to the same person. Only the code's SHA-256 is kept.
pair_codes = sa.Table(
    "pair_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # migration 0031: the address it was asked for from, told when the code joins another
    sa.Column("asked_from", sa.String(64)),
    sa.Index("ix_pair_codes_code_hash", "code_hash"),
    sa.Index("ix_pair_codes_user_id", "user_id"),
)

# Inbound messages, keyed by MessageSid: insert-or-ignore makes a redelivery a no-op. `channel`
# (migration 0017, "sms" by default) is the channel the message came in on; the Twilio-named
# columns hold that channel's values: `message_sid` its external message id, `from_phone` the
# sender's address on it (addresses.address), `to_phone` ours.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("account_sid", sa.String(64), nullable=False, server_default=""),
    sa.Column("from_phone", sa.String(32), nullable=False),
    sa.Column("to_phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("media", sa.Text, nullable=False, server_default="[]"),  # JSON [[url, content_type], ...]
    sa.Column("opt_out_type", sa.String(16), nullable=False, server_default=""),
    sa.Column("idempotency_token", sa.String(128)),
    sa.Column(
        "priority", sa.Integer, nullable=False, server_default="0"
    ),  # 1: handled at once (keywords, \STOP)
    # pending -> processing -> done | failed; parked: waits for an X rate-limit reset
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_until", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.Column("channel", sa.String(16), nullable=False, server_default="sms"),
    sa.Column("sender_name", sa.String(64)),  # migration 0020: the channel's name of the sender
    # migration 0030: forwarded from another chat (someone else's words: never posted nor run)
    sa.Column("forwarded", sa.Boolean, nullable=False, server_default=sa.false()),
    # migration 0034: the room a message's photos were sent to, kept while they wait for an outage
    # to end (the sender may switch rooms meanwhile); NULL for every other message
    sa.Column("room_id", sa.String(36)),
    sa.Index("ix_inbox_queue", "status", "priority", "id"),  # the claim's arms walk it in id order
    # a sender's messages handled since a moment (the per-sender limit): only done rows, by time
    sa.Index(
        "ix_inbox_sender_done",
        "from_phone",
        "done_at",
        sqlite_where=sa.text("status = 'done'"),
        postgresql_where=sa.text("status = 'done'"),
    ),
)


def literal(value: str | int) -> sa.ColumnElement[str]:
    """A status (or a priority) written into the statement, not bound. For a column that a partial
    index's condition names (inbox.status: ix_inbox_sender_done and ix_inbox_waiting;
    inbox.priority: ix_inbox_waiting), SQLite's planner compares a bound value in the WHERE with
    that condition, and then prepares the statement again each time the value is bound, that is on
    every execution: the worker's claim was planned anew for every batch (its SELECT took 54 us
    bound, 14 us with literals; BENCHMARKS.md "Stop 20"). Written as a literal, it is planned
    once; a partial index is used only for a query whose WHERE has its condition as written
    anyway."""
    if isinstance(value, int):
        return sa.literal_column(str(int(value)))
    if not re.fullmatch(r"[a-z_]+", value):
        raise ValueError(f"not a status: {value!r}")
    return sa.literal_column(f"'{value}'")


# The condition of ix_inbox_sender_done, written as a literal (see `literal`).
INBOX_DONE = inbox.c.status == literal("done")


def inbox_waiting(table: sa.FromClause) -> sa.ColumnElement[bool]:
    """Unfinished (pending or processing, priority or not): a message of `table` (inbox or an
    alias of it) that holds its sender's later ones back. A priority message jumps ahead of the
    ordinary ones before it, but what its sender texts after it waits until it is done: `STOP`
    then `\\HELP` must not answer after the opt-out (migration 0015; until then priority rows were
    left out, and a later text could run beside them). Literal values: a partial index is used
    only for a query whose WHERE has its condition as written (ix_inbox_waiting; the claim in
    storage/inbox.py)."""
    return table.c.status.in_([literal("pending"), literal("processing")])


# A sender's unfinished messages, for the claim's "nothing earlier of this sender waits"
# check and the senders query's "more of theirs wait" (migrations 0013, PostgreSQL, and 0014,
# SQLite): only the messages in the queue, not the 30 days kept (ix_inbox_sender before 0014).
INBOX_WAITING_INDEX = sa.Index(
    "ix_inbox_waiting",
    inbox.c.from_phone,
    inbox.c.id,
    postgresql_where=inbox_waiting(inbox),
    sqlite_where=inbox_waiting(inbox),
)

# Replies and notices, sent through Twilio by the outbox sender. `channel` (migration 0017, "sms"
# by default) is the channel the reply goes out on; `to_phone` is the recipient's address on it
# (addresses.address) and `twilio_sid` the channel's id of the sent message.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(128), nullable=False, unique=True),  # queued twice, sent once
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id", ondelete="SET NULL")),
    sa.Column("to_phone", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("redact", sa.Boolean, nullable=False, server_default=sa.false()),  # carries a link
    sa.Column("redacted", sa.Boolean, nullable=False, server_default=sa.false()),
    # queued -> sending -> sent | failed | skipped (opted out, superseded); held: never sent (the
    # number was on hold for a reply loop, bot/pipeline/replyguard.py)
    sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
    sa.Column("delivery_status", sa.String(32)),  # from Twilio status callbacks, never moves backwards
    sa.Column("twilio_sid", sa.String(64), unique=True),
    # the answer's kind (bot.pipeline.dispatch.Reply.kind: "x-link", "help", ...): a delayed link that a
    # newer one superseded is dropped, not sent (bot/pipeline/replyguard.py)
    sa.Column("kind", sa.String(32)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("claimed_until", sa.Float),
    sa.Column("claimed_by", sa.String(64)),  # the process sending it (processes.id)
    # set when a try's outcome is unknown (its owner died mid-send, or Twilio timed out): the
    # claim time of that try; the sender looks the reply up at Twilio before sending it again
    sa.Column("reconcile_since", sa.Float),
    sa.Column("error_code", sa.String(16)),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Column("updated_at", sa.Float),
    sa.Column("channel", sa.String(16), nullable=False, server_default="sms"),
    sa.Index("ix_outbox_ready", "status", "next_attempt_at"),
    sa.Index("ix_outbox_to", "to_phone", "id"),
    # the rows the redact-links job (every minute) still has to redact: a handful, by age; the job
    # scanned the whole outbox (30 days) with the write lock held. The condition is written as the
    # job's statement renders it on each database: a partial index is used only then.
    sa.Index(
        "ix_outbox_unredacted",
        "created_at",
        sqlite_where=sa.text("redact IS 1 AND redacted IS 0"),
        postgresql_where=sa.text("redact IS true AND redacted IS false"),
    ),
)

# X tokens, Fernet-encrypted (storage/crypto.py); one row a user.
x_tokens = sa.Table(
    "x_tokens",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),  # {"user_id", "access_token", "refresh_token"}
    sa.Column("expires_at", sa.Float, nullable=False),  # access token expiry
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),  # compare-and-swap on refresh
    sa.Column("lease_owner", sa.String(64)),  # a refresh in progress, across processes
    sa.Column("lease_until", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_x_tokens_expires", "expires_at"),
)

# Refresh tokens still to revoke at X, whose pair is already deleted or replaced here (`\\UNLINK`,
# `\\STOP`, a reconnect) while X could not be reached or answered 5xx/429: the x-revoke job retries
# them with backoff for a bounded time (bot/features/x/revoke.py). No foreign key: `\\STOP` deletes
# the user, and the grant must still end; the user id only binds the ciphertext (storage/crypto.py).
x_revocations = sa.Table(
    "x_revocations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),  # {"uid", "refresh_token"}
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),  # also the claim of an attempt in flight
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_x_revocations_next_attempt_at", "next_attempt_at"),
)

# One-time links `/x/link/{token}`: only the SHA-256 of the token is stored.
link_tokens = sa.Table(
    "link_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
    # migration 0027: the address the link was texted to (NULL before): the confirm page names
    # it, and "Connected @handle" goes back to it
    sa.Column("address", sa.String(64)),
)

# Browser sessions between the confirm page and X's callback: PKCE verifier (encrypted) and state hash.
oauth_sessions = sa.Table(
    "oauth_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie value
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("state_hash", sa.String(64), nullable=False),
    sa.Column("verifier_ciphertext", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
    sa.Column("address", sa.String(64)),  # migration 0027: the link's address, for "Connected"
)

# A post to X is made at most once per inbound message: intent recorded before the call.
posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # attempting -> posted | failed | unknown (crashed or timed out after sending)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tweet_id", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Rooms of receipts (issue 5).
rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # UUID
    sa.Column("name", sa.String(64), nullable=False),  # as typed at creation
    sa.Column("name_key", sa.String(64), nullable=False, unique=True),  # case-folded, unique
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id$... with its own salt
    # migration 0032: when the `\PASSWORD` that set it was sent (NULL: set by `\CREATE`); an
    # older one handled again (a worker retried after dying) sets nothing over it
    sa.Column("password_set_at", sa.Float),
    sa.Column("created_by", sa.Integer),  # users.id, kept without a foreign key (no cycle)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),  # ISO 4217 (issue 12)
    # migration 0023, \REMIND and \TIMEZONE: weekly | monthly | NULL (off); an IANA zone (NULL:
    # the creator's number's); the last period reminded (one process, once, sends a period's)
    sa.Column("remind", sa.String(8)),
    sa.Column("timezone", sa.String(64)),
    sa.Column("reminded_period", sa.String(16)),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("room_id", sa.String(36), sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("joined_at", sa.Float, nullable=False),
    sa.Index("ix_memberships_room", "room_id"),
)

# Wrong room passwords, for the per-phone lockout (5 in 15 minutes) and the per-room one (by the
# name guessed, whether or not such a room exists). `kind`: "wrong" (a guess) or "notice" (a
# locked-out guess was answered; the next ones in the window are not).
join_failures = sa.Table(
    "join_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("room_key", sa.String(64)),
    sa.Column("kind", sa.String(8), nullable=False, server_default="wrong"),
    sa.Index("ix_join_failures_phone_at", "phone", "at"),
    sa.Index("ix_join_failures_room_key_at", "room_key", "at"),
)

# Room names under attack (migration 0016): when the name's next password check may run. Once a
# name has had ROOM_LOCKOUT_FAILURES wrong guesses lately, a guess from a number with no failure
# for it waits for the name's slot (one check every SLOT_SECONDS on average, up to SLOT_BURST at
# once: `next_at` is a token bucket's time, storage/rooms.py take_slot), so the checks that reach the
# password hash stay bounded per name while a flood from other numbers cannot lock members out.
join_slots = sa.Table(
    "join_slots",
    metadata,
    sa.Column("room_key", sa.String(64), primary_key=True),
    sa.Column("next_at", sa.Float, nullable=False),
)

# Status callbacks that came before their reply's sid was recorded (migration 0033): Twilio may
# call back as soon as it took the message, before the sender's outcome is committed, and a
# callback it was answered 200 for is not sent again. Kept here, and applied once the reply has
# the sid (bot/channels/twilio/status.py); one no reply takes within the hour is dropped.
early_statuses = sa.Table(
    "early_statuses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("twilio_sid", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("error_code", sa.String(16)),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Index("ix_early_statuses_twilio_sid", "twilio_sid"),
)

# The replies of the last minutes to each number (bot/pipeline/replyguard.py): its per-number budget (a
# reply over it goes out later), its loop detector, and its holds. The retention job purges old
# rows.
reply_log = sa.Table(
    "reply_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("message_sid", sa.String(64), nullable=False),
    sa.Column("answer", sa.String(64)),  # the reply's kind; "hold": the number was put on hold
    sa.Column("at", sa.Float, nullable=False),  # when the reply goes out (later when delayed)
    # the message it answers: when it arrived, and its body's digest when it was plain text (no
    # command): what the loop detector reads (migration 0015)
    sa.Column("received_at", sa.Float),
    sa.Column("digest", sa.String(16)),
    sa.Index("ix_reply_log_phone_at", "phone", "at"),
)

# One row `/readyz` rewrites: a tiny committed write fails on a full or read-only disk, where
# `SELECT 1` still passes.
ready_probe = sa.Table(
    "ready_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False),
)

# Who left a room (\LEAVE): a former member coming back is not locked out by others' guesses.
room_departures = sa.Table(
    "room_departures",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("room_id", sa.String(36), sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("left_at", sa.Float, nullable=False),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # UUID
    sa.Column("room_id", sa.String(36), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "uploader_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")
    ),  # NULL: a former member
    sa.Column("uploader_phone_masked", sa.String(32), nullable=False, server_default=""),
    sa.Column("message_sid", sa.String(64), nullable=False),
    sa.Column("media_index", sa.Integer, nullable=False),
    sa.Column("object_key", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("caption", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    # the copy at the channel (its media reference: Twilio's media URL for "sms"): deleted after
    # the object is stored; retried by the scheduler until done
    sa.Column("twilio_media_url", sa.Text),
    sa.Column("twilio_deleted_at", sa.Float),
    sa.Column("twilio_delete_attempts", sa.Integer, nullable=False, server_default="0"),
    # the ledger (issue 12): an amount in minor units of `currency`; NULL or 0: not in the ledger
    sa.Column("amount_minor", sa.BigInteger),
    sa.Column("currency", sa.String(3)),
    sa.Column("amount_source", sa.String(16)),  # caption | ocr | pdf | manual
    sa.Column("ocr_status", sa.String(16)),  # ok | none | ask: what reading the photo gave
    # the `\AMOUNT` message that set it: the same message handled again (a retry after a crash)
    # sets the same receipt, never the next one still waiting for an amount
    sa.Column("amount_message_sid", sa.String(64)),
    # the channel the photo came in on (migration 0017, "sms" by default): `message_sid` is the
    # message's id there, twilio_media_url the media reference there
    sa.Column("channel", sa.String(16), nullable=False, server_default="sms"),
    # migration 0022: the picture's difference hash (NULL for a PDF), and the earlier receipt of
    # the room this one repeats (kept, not counted until \AMOUNT counts it anyway)
    sa.Column("phash", sa.String(64)),
    sa.Column("duplicate_of", sa.String(36)),
    sa.Column("identity", sa.String(120)),  # MERCHANT|date|time as OCR read it (a repeat's tell)
    # migration 0025: the photo is gone from the store ("request": the uploader's; "retention")
    sa.Column("photo_deleted_at", sa.Float),
    sa.Column("photo_deleted_why", sa.String(16)),
    # migration 0029: what `\AMOUNT 678 JPY @0.006667` converted (678 in JPY's minor units, JPY,
    # the rate as typed: the room's money for one JPY); NULL when the amount was not converted
    sa.Column("original_minor", sa.BigInteger),
    sa.Column("original_currency", sa.String(3)),
    sa.Column("original_rate", sa.String(24)),
    sa.UniqueConstraint("message_sid", "media_index"),
    sa.Index("ix_receipts_room_created", "room_id", "created_at"),
)

# Who shares a receipt: the room's members when it was saved, in the order leftover cents go
# (bot/features/ledger/split.py). user_id NULL: a former member (the account is gone).
receipt_members = sa.Table(
    "receipt_members",
    metadata,
    sa.Column(
        "receipt_id", sa.String(36), sa.ForeignKey("receipts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    # migration 0021: \SPLIT's weight (shares, basis points or minor units); NULL: split equally;
    # 64-bit since 0027 (exact amounts of a four-decimal currency, CLF, pass 32 bits)
    sa.Column("weight", sa.BigInteger),
)

# \PAID: one member paid another, once per inbound message.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room_id", sa.String(36), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("payer_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("payee_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("message_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_payments_room_created", "room_id", "created_at"),
)

# Live processes: each heartbeats; a claim (inbox `processing`, outbox `sending`) whose owner has
# not heartbeated for `bot.pipeline.leases.STALE_SECONDS` is taken over by any live process.
processes = sa.Table(
    "processes",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

# One run of a scheduled job at a time across processes: the owner holds the lease until `until`.
job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("until", sa.Float, nullable=False),
)

# What the clean-up jobs delete or look for, by age (migration 0013). Each purge takes its old rows
# in batches (scheduler/jobs.py); without these, a batch found them by walking every row it keeps
# (the inbox's done rows through ix_inbox_queue with a table read each, the outbox's sent ones
# through ix_outbox_ready, posts whole), and the last batch of every hourly run walked them all
# with SQLite's write lock held: 0.15 s for the inbox's and 0.15 s for the outbox's at a million
# kept rows, growing with the days kept (bench/purge.py --kept). The inbox's is on `received_at`,
# which nothing else filters on: PostgreSQL took an index on `done_at` for the claim's per-sender
# count (`from_phone = ? AND done_at >= ?`) and walked every message handled in the last minute,
# per sender. For the same reason the reply guard's rows have none (and need none: the purge keeps
# only their last 10 minutes). The receipts' holds only copies at Twilio not yet deleted.
_AT_TWILIO = sa.text("twilio_media_url IS NOT NULL AND twilio_deleted_at IS NULL")
RETENTION_INDEXES = (
    sa.Index("ix_inbox_received_at", inbox.c.received_at),
    sa.Index("ix_outbox_created_at", outbox.c.created_at),
    sa.Index("ix_posts_created_at", posts.c.created_at),
    sa.Index("ix_link_tokens_expires_at", link_tokens.c.expires_at),
    sa.Index("ix_oauth_sessions_expires_at", oauth_sessions.c.expires_at),
    sa.Index(
        "ix_receipts_twilio_pending",
        receipts.c.created_at,
        sqlite_where=_AT_TWILIO,
        postgresql_where=_AT_TWILIO,
    ),
)

# Every foreign key's column leads an index. Deleting a parent row makes the database find its
# children (ON DELETE SET NULL / CASCADE): without one, each deleted row scans the child table.
# The hourly retention purge deletes the inbox rows that turned 7 days old while the outbox keeps
# 30 days of replies pointing at them, with the write lock held. bench/purge.py: an hour at one
# text a second (3,600 rows) against 263,600 outbox rows (3 of the 30 days) took 73 s on SQLite,
# 0.05 s with the index; on PostgreSQL 20,000 rows against 20,000 took 13 s, 0.12 s with it.
# Deleting an account (`\STOP`) finds its posts, receipts, payments and tokens the same way.
# Migration 0011; tests/test_postgres.py checks every foreign key on both databases.
FOREIGN_KEY_INDEXES = (
    sa.Index("ix_outbox_inbox_id", outbox.c.inbox_id),
    sa.Index("ix_users_active_room_id", users.c.active_room_id),
    sa.Index("ix_link_tokens_user_id", link_tokens.c.user_id),
    sa.Index("ix_oauth_sessions_user_id", oauth_sessions.c.user_id),
    sa.Index("ix_posts_user_id", posts.c.user_id),
    sa.Index("ix_receipts_uploader_id", receipts.c.uploader_id),
    sa.Index("ix_receipt_members_user_id", receipt_members.c.user_id),
    sa.Index("ix_payments_payer_id", payments.c.payer_id),
    sa.Index("ix_payments_payee_id", payments.c.payee_id),
    sa.Index("ix_room_departures_room_id", room_departures.c.room_id),
)
