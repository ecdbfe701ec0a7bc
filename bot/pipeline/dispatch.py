"""A Telegram-style dispatcher (after aiogram 3): routers, filters that parse once, middlewares.

- A `Router` holds handlers; each is registered with filters. The first handler whose filters all
  pass runs. Routers compose with `include`; the `Dispatcher` is the root router.
- A filter is a callable `(msg, ctx) -> bool | dict` (or awaitable of one); a dict is merged into
  `ctx.data`, so the handler gets what the filter parsed (a `Command` filter sets `ctx.command`).
- A command's resolving filters (`router.command(..., resolve=...)`) run once it has matched and
  its argument count is right, never in the webhook's `is_priority`: each returns what it resolved
  (a dict merged into `ctx.data`, as a filter's) or the answer in the handler's place.
- Middlewares have one signature, `async (handler, msg, ctx) -> result`: outer ones run on every
  message before matching, inner ones only around a matched handler.
- Handlers are async (checked when registered) and return reply text(s) or nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard, cast

from structlog.typing import FilteringBoundLogger

from bot.core.message import Inbound, Media, Reply

if TYPE_CHECKING:
    from bot.core.deps import Deps
    from storage.users import User


@dataclass(frozen=True)
class CommandObject:
    """A parsed command: `\\JOIN house pw` -> name "JOIN", args ("house", "pw")."""

    prefix: str
    name: str
    args: tuple[str, ...]
    asked: bool = False  # a question mark after the name (`\\STOP?`): asked about, maybe not meant
    # the arguments on the first line that has any (the name's own, else the next): what a text
    # says after the line of a one-line argument is no part of it (`\\NAME Cat` and "thanks!"
    # on the next line named the person "Cat thanks")
    first_line: tuple[str, ...] = ()
    own_line: tuple[str, ...] = ()  # the arguments on the name's own line (`\\STOP` then "thanks": none)

    @property
    def arg_text(self) -> str:
        return " ".join(self.args)

    def redacted(self, secret: Sequence[int], well_formed: bool) -> str:
        """The command as the inbox keeps it: `\\JOIN house ***`. When the argument count is
        wrong, which word is the secret is anyone's guess: every argument becomes one `***`."""
        head = f"{self.prefix}{self.name}"
        if not well_formed:
            return f"{head} ***" if self.args else head
        words = ["***" if i in secret else arg for i, arg in enumerate(self.args)]
        return " ".join([head, *words])


@dataclass
class Context:
    """What a handler gets besides the message. `user` and `command` are not optional to a
    handler: `user` is set by the `load_user` outer middleware before any handler runs, `command`
    by a command filter; reading one that was never set is a bug and raises `LookupError`."""

    deps: Deps
    log: FilteringBoundLogger
    data: dict[str, Any] = field(default_factory=dict)
    help_entries: tuple[str, ...] = ()  # the registered commands, for \HELP
    # set by the dispatcher for a command with secret arguments (a room password): the inbox
    # keeps `***` in their place, whatever happens next
    redacted_body: str | None = None
    # set by the dispatcher for a message with media whose text is a command that is not run
    # (only a priority one is): the photos' handler says so and keeps it out of the caption
    text_command: CommandObject | None = None
    _user: User | None = field(default=None, repr=False)
    _command: CommandObject | None = field(default=None, repr=False)
    _parsed: dict[str, CommandObject | None] = field(default_factory=dict, repr=False)

    def parse(self, text: str) -> CommandObject | None:
        """`parse_command(text)`, once per text for all of a message's command filters."""
        try:
            return self._parsed[text]
        except KeyError:
            parsed = self._parsed[text] = parse_command(text)
            return parsed

    @property
    def user(self) -> User:
        if self._user is None:
            raise LookupError("ctx.user is set by the load_user middleware, which has not run")
        return self._user

    @user.setter
    def user(self, user: User) -> None:
        self._user = user

    @property
    def has_user(self) -> bool:
        return self._user is not None

    @property
    def command(self) -> CommandObject:
        if self._command is None:
            raise LookupError("ctx.command is set by a command filter; this handler has none")
        return self._command

    @command.setter
    def command(self, command: CommandObject) -> None:
        self._command = command

    @property
    def args(self) -> tuple[str, ...]:
        """The arguments of the command (empty when the message is no command)."""
        return self._command.args if self._command is not None else ()


HandlerResult: TypeAlias = "str | Reply | Sequence[str | Reply] | None"
Handler: TypeAlias = Callable[[Inbound, Context], Awaitable[HandlerResult]]
FilterResult: TypeAlias = "bool | dict[str, Any] | None"
Filter: TypeAlias = Callable[[Inbound, Context], "FilterResult | Awaitable[FilterResult]"]
ResolverResult: TypeAlias = "dict[str, Any] | str | Reply"
Resolver: TypeAlias = Callable[[Inbound, Context], "ResolverResult | Awaitable[ResolverResult]"]
Middleware: TypeAlias = Callable[[Handler, Inbound, Context], Awaitable[HandlerResult]]

COMMAND_PREFIXES = ("\\", "/")
# before a command, what a person does not see: a zero-width space or joiner, a byte order mark,
# a direction mark (some keyboards and pasted text put one first): "\u200b\\HELP" went to X as a post
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f"
# and the direction controls a phone or an app wraps pasted or shared text in (isolates, embeddings,
# their ends, the Arabic letter mark), which show Latin letters as they are: `\u2068\\JOIN house
# pw\u2069` went to X as a post, password and all. Not the overrides (U+202D, U+202E), which show
# letters in an order other than the one they are read in.
BIDI_CONTROLS = "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u061c"
_INVISIBLE += BIDI_CONTROLS
# Spanish opens a question or an exclamation with its inverted mark, and a phone set to Spanish
# offers it first: `\u00bf\\BALANCE?` and `\u00a1\\PAID Jos\u00e9 5!` went to X as posts. Before a
# backslash only (`\u00bf/r/python?` stays a post); the mark that closes it stays, as after any
# command (`\u00bf\\LEAVE?` asks what \LEAVE does, as `\\LEAVE?` does, and leaves no room).
_INVERTED = "\u00bf\u00a1"  # INVERTED QUESTION MARK, INVERTED EXCLAMATION MARK
_WIDE_PREFIXES = {"\uff3c": "\\", "\uff0f": "/"}  # FULLWIDTH REVERSE SOLIDUS, FULLWIDTH SOLIDUS
# quotes around a command, as a flyer or a friend's text wrote it (`\u201c\\JOIN house pw\u201d`, a
# phone's smart quotes): it went to X as a post, password and all. Before a backslash only: a quoted
# `"/r/python"` stays a post, as SPEC's slash starts a command only before a name.
_QUOTES = "\"'`\u201c\u201d\u201e\u2018\u2019\u00ab\u00bb"
# what Japanese and Korean keyboards put where the backslash is (and their full-width forms):
# `\u00a5JOIN house pw` went to X as a post, password and all. Before a listed command's name (or
# a near miss of one, answered with the one meant) they start a command; anything else after
# them (`\u00a53000 lunch`, `\u20a9Seoul trip`) stays a post, as SPEC's prefixes are `\` and `/`.
KEY_SIGNS = "\u00a5\u20a9\uffe5\uffe6"  # YEN SIGN, WON SIGN, FULLWIDTH YEN SIGN, FULLWIDTH WON SIGN
# and the key next to the backslash on an iPhone's symbols page, tapped for it: `|JOIN house pw`
# went to X as a post, password and all (the same rule: `|Tokyo trip` stays a post)
KEY_SIGNS += "|"
_STARTS = frozenset(COMMAND_PREFIXES + tuple(KEY_SIGNS))  # what a command starts with
# inside a command, what no name, password or amount has and no one types on purpose: a zero-width
# space, a word joiner, a byte order mark, a direction mark, a soft hyphen (pasted from a notes app
# or a web page: `\\JOIN house\u200b pw` was "No room with that name and password", a wrong
# password counted); a zero-width joiner or non-joiner only at a word's ends (inside, they are
# part of an emoji or a script's word)
_DROPPED = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u200e\u200f\u00ad" + BIDI_CONTROLS))
_JOINERS = "\u200c\u200d"


def _words(text: str) -> list[str]:
    if text.isascii():  # no joiner to strip (most texts: 0.3 us instead of 2)
        return text.split()
    return [word for word in (w.strip(_JOINERS) for w in text.split()) if word]


def _undropped(text: str) -> str:
    """`text` without `_DROPPED`'s characters (none of them is ASCII: most texts as they are)."""
    return text if text.isascii() else text.translate(_DROPPED)


# after a command's name, what people type as they would after a word (`\\balance?`, `\\ROOMS.`):
# no name has them, and "Unknown command." answered a command typed right
_AFTER_NAME = ".,;:!?"
# and what a phone's keyboard makes of them: an iPhone's `...` is one ellipsis, and a Japanese or
# Chinese keyboard's are full-width (`\\rooms\u2026`, `\\HELP\uff1f` answered "Unknown command.")
_AFTER_NAME += "\u2026\uff0e\u3002\uff0c\u3001\uff1b\uff1a\uff01\uff1f"
# and an Arabic keyboard's question mark, comma and semicolon (`\\balance\u061f`: "Unknown command.")
_AFTER_NAME += "\u061f\u060c\u061b"
_ASKED = "?\uff1f\u061f"


# a Turkish keyboard's capital i keeps its dot (its small dotless one upper-cases to I already):
# `\\JO\u0130N house pw` was "Unknown command.", a bare `JO\u0130N house pw` a post to X
DOTTED_I = str.maketrans({"\u0130": "I"})


def command_name(word: str) -> str:
    """The command a typed word names: `balance?` -> `BALANCE`; in a Japanese or Chinese
    keyboard's full-width letters too (`\uff3c\uff28\uff25\uff2c\uff30`, NFKC: it was "Unknown command."), and
    a Turkish keyboard's (`DOTTED_I`)."""
    word = word.rstrip(_AFTER_NAME)
    if word.isascii():  # NFKC and the dotted I change no ASCII letter
        return word.upper()
    return unicodedata.normalize("NFKC", word).translate(DOTTED_I).upper()


def _without_marks(words: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """`words` without the words of punctuation alone at their end, and those marks. A T9 phone
    confirms a word with a space and gives its full stop on the 1 key (`\\Balance .`): the `.`
    was read as a room's name, and `\\Stop .` was answered "Usage: \\STOP". No name, room,
    amount or setting is punctuation alone."""
    end = len(words)
    while end and not words[end - 1].strip(_AFTER_NAME):
        end -= 1
    return tuple(words[:end]), "".join(words[end:])


def parse_command(text: str) -> CommandObject | None:
    """`\\join  House  pw` -> CommandObject("\\", "JOIN", ("House", "pw")); None when not a command.

    Spaces after the prefix are extra spaces (`\\ JOIN house pw` is \\JOIN: a post would have put
    the password on X). A backslash always starts a command: one whose first word is not a name
    (`\\`, `\\?`, `\\5`) has the empty name, an unknown command, never a post. A slash starts one
    only before a name (`/join`, `/ join`): "/5 of us" stays a post. Punctuation after the name
    is no part of it (`\\balance?` is \\BALANCE), nor are invisible characters (`_DROPPED`)."""
    text = text.strip().lstrip(_INVISIBLE).strip()
    if text[:1] in _QUOTES and text.lstrip(_QUOTES + _INVISIBLE).lstrip()[:1] in ("\\", "\uff3c"):
        # the opening quotes, and one closing quote: the one that closes them, no password's
        text = text.lstrip(_QUOTES + _INVISIBLE).lstrip()
        text = text[:-1].rstrip() if text[-1] in _QUOTES else text
    if text[:1] in _INVERTED and text[1:].lstrip(_INVISIBLE).lstrip()[:1] in ("\\", "\uff3c"):
        text = text[1:].lstrip(_INVISIBLE).lstrip()
    if text[:1] in _WIDE_PREFIXES:  # a Japanese or Chinese keyboard's full-width \ or /
        text = _WIDE_PREFIXES[text[0]] + text[1:]
    if not text or text[0] not in _STARTS:
        return None
    text = text[0] + _undropped(text[1:])
    words = _words(text[1:])
    if (
        text[0] == "\\"
        and words
        and words[0][:1] in COMMAND_PREFIXES
        and words[0].lstrip("\\/")[:1].isalpha()
    ):
        # a prefix typed twice (`\\\\HELP`, `\\/rooms`, `\\ \\ROOMS`): "Unknown command.", no hint
        words[0] = words[0].lstrip("\\/")
    if (
        not words
        or not words[0][0].isalpha()
        # after a yen or won sign, a word of Latin letters, a full-width keyboard's too
        # (`\uffe5\uff2a\uff2f\uff29\uff2e`): `\u00a5\u6771\u4eac` is a post
        or (text[0] in KEY_SIGNS and not unicodedata.normalize("NFKC", words[0][0]).isascii())
    ):
        if text[0] != "\\":
            return None
        return CommandObject(prefix=text[0], name="", args=tuple(words))
    after_name = words[0][len(words[0].rstrip(_AFTER_NAME)) :]
    asked = bool(after_name) and any(mark in after_name for mark in _ASKED)
    args, marks = _without_marks(words[1:]) if len(words) > 1 else ((), "")
    # `\\Leave ?` as `\\LEAVE?`
    asked = asked or (not args and any(mark in marks for mark in _ASKED))
    own_line: tuple[str, ...] = ()
    first_line: tuple[str, ...] = ()
    if len(words) > 1:  # else nothing follows the name
        body = text[1:].lstrip()
        lines = body[len(body.split(None, 1)[0]) :].splitlines()  # what follows the name, by line
        own_line = _without_marks(_words(lines[0]))[0] if lines else ()
        first_line = next((found for line in lines if (found := _without_marks(_words(line))[0])), ())
    return CommandObject(
        prefix=text[0],
        name=command_name(words[0]),
        args=args,
        asked=asked,
        first_line=first_line,
        own_line=own_line,
    )


@functools.lru_cache(maxsize=8)
def _listed_names(help_entries: tuple[str, ...]) -> frozenset[str]:
    return frozenset(found.name for entry in help_entries if (found := parse_command(entry)) is not None)


def _another_command(ctx: Context) -> str | None:
    """The first argument that is a listed command (`\\BALANCE` in `\\NAME Ann \\BALANCE`)."""
    names = _listed_names(ctx.help_entries)
    for word in ctx.command.args:
        found = parse_command(word) if word[:1] in COMMAND_PREFIXES else None
        if found is not None and found.name in names:
            return found.name
    return None


class Command:
    """Matches `\\NAME ...` or `/NAME ...` (any case). Sets `ctx.command`."""

    def __init__(self, *names: str) -> None:
        self.names = frozenset(n.upper() for n in names)

    def __call__(self, msg: Inbound, ctx: Context) -> FilterResult:
        cmd = ctx.parse(msg.body)
        if cmd is None or cmd.name not in self.names:
            return False
        return {"command": cmd}


def bare_word(word: str) -> str:
    """A message's first word as a bare command's name is matched: in a full-width keyboard's
    letters too (NFKC: `\uff2a\uff2f\uff29\uff2e house pw` went to X as a post, password and all)."""
    if word.isascii():  # NFKC and the dotted I change no ASCII letter
        return word
    return unicodedata.normalize("NFKC", word).translate(DOTTED_I)


class BareCommand:
    """A command without a prefix, upper case only, with an exact number of words after it
    (`JOIN house pw`, SPEC Clarifications)."""

    def __init__(self, name: str, args: int) -> None:
        self.name = name.upper()
        self.args = args

    def __call__(self, msg: Inbound, ctx: Context) -> FilterResult:
        words = _words(_undropped(msg.body))
        if len(words) != self.args + 1 or bare_word(words[0]) != self.name:
            return False
        return {"command": CommandObject(prefix="", name=self.name, args=tuple(words[1:]))}


def any_command(msg: Inbound, ctx: Context) -> FilterResult:
    """Any command, known or not (the unknown-command answer). After a yen or won sign only a
    near miss of a listed name (`\u00a5JION house pw`): `\u00a5Tokyo trip` is a post."""
    cmd = ctx.parse(msg.body)
    if cmd is None:
        return False
    if cmd.prefix in KEY_SIGNS:
        names = [*_listed_names(ctx.help_entries), "HELP"]
        if not difflib.get_close_matches(cmd.name, names, n=1, cutoff=0.7):
            return False
    return {"command": cmd}


def has_media(msg: Inbound, ctx: Context) -> FilterResult:
    return bool(msg.media)


def has_text(msg: Inbound, ctx: Context) -> FilterResult:
    return bool(msg.text)


@dataclass(frozen=True)
class Registration:
    handler: Handler
    filters: tuple[Filter, ...]
    name: str
    priority: bool = False  # handled at once, never held back (PROTOCOL: \\STOP, carrier keywords)
    secret: tuple[int, ...] = ()  # command arguments the inbox never keeps (a password)
    arity: tuple[int, int] = (0, 99)  # the argument counts a command accepts


def _check_async(handler: Callable[..., Any]) -> None:
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(f"handler {getattr(handler, '__qualname__', handler)!r} must be an async function")


class Router:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.registrations: list[Registration] = []
        self.children: list[Router] = []
        self.inner_middlewares: list[Middleware] = []
        self.help_entries: list[str] = []

    # -- registration -------------------------------------------------------------------------
    def register(
        self,
        handler: Handler,
        *filters: Filter,
        priority: bool = False,
        secret: tuple[int, ...] = (),
        arity: tuple[int, int] = (0, 99),
    ) -> Handler:
        _check_async(handler)
        name = f"{self.name}.{handler.__name__}"
        self.registrations.append(Registration(handler, tuple(filters), name, priority, secret, arity))
        return handler

    def message(self, *filters: Filter, priority: bool = False) -> Callable[[Handler], Handler]:
        """`priority=True`: messages this handler takes are handled at once (the webhook asks
        `Dispatcher.is_priority`); its filters then run in the webhook too, so keep them cheap."""

        def decorate(handler: Handler) -> Handler:
            return self.register(handler, *filters, priority=priority)

        return decorate

    def command(
        self,
        *names: str,
        args: int | tuple[int, int] = (0, 99),
        usage: str = "",
        usage_note: str = "",
        bare: bool = False,
        help: str | None = None,
        secret: tuple[int, ...] = (),
        priority: bool = False,
        resolve: Sequence[Resolver] = (),
        answers_asked: bool = False,
    ) -> Callable[[Handler], Handler]:
        """`@router.command("JOIN", args=2, secret=(1,), usage="\\JOIN <room> <password>", bare=True)`.

        A command with the wrong number of arguments gets its usage, never reaches the handler.
        `bare=True` also matches the upper-case form without a prefix, with exactly `args` words.
        `usage_note`: said after the usage in that answer only, not in `\\HELP` (a room command's
        name rules: `\\CREATE my house pw` got a usage that person thought they had followed).
        `help`: the entry in `\\HELP` (default: the usage; "" leaves the command out).
        `secret`: the indexes of arguments the inbox never keeps; the dispatcher puts `***` in
        their place (in `ctx.redacted_body`) before anything else runs, a usage answer included.
        `priority`: handled at once, never held back behind other messages (\\STOP, \\UNLINK).
        `resolve`: filters run in order once the command matched with the right argument count
        (a wrong count gets the usage first): each returns a dict, merged into `ctx.data` for the
        handler, or the answer (`str` or `Reply`), and then the handler does not run (a room the
        sender is not in: handlers/filters.py). Matching never depends on them, so the webhook's
        `is_priority` does not run them.
        `answers_asked`: a priority command's handler answers `\\STOP?` itself (`ctx.command.asked`),
        where what it would do depends on the sender; else its help entry is said.
        """
        low, high = (args, args) if isinstance(args, int) else args
        resolvers = tuple(resolve)
        if any(not 0 <= i < max(high, 1) for i in secret):
            raise ValueError(f"secret argument indexes {secret} out of range for {names}")
        names_upper = [n.upper() for n in names]
        usage_text = usage or " ".join(f"\\{n}" for n in names_upper)
        entry = usage_text if help is None else help
        if entry:
            self.help_entries.append(entry)

        def decorate(handler: Handler) -> Handler:
            _check_async(handler)

            async def checked(msg: Inbound, ctx: Context) -> HandlerResult:
                if priority and ctx.command.asked and not answers_asked:  # `\\UNLINK?`: said, not done
                    return Reply(f"{entry or usage_text}. Send it without the ? to do it.", kind="usage")
                # a listed command among the arguments: two commands in one text (`\\NAME Ann
                # \\BALANCE` said a name is letters and digits); not for an unlisted one (\\HELP
                # takes a command's name)
                other = _another_command(ctx) if entry else None
                if other is not None:
                    return Reply(
                        f"One command a text, please: send \\{ctx.command.name} and \\{other} as two texts.",
                        kind="usage",
                    )
                if not priority and not low <= len(ctx.command.args) <= high:
                    # `\\JOIN house pw` and "see you there" on the next line: the command is its
                    # line (`\\ROOMS` and "thanks": its own; `/join@bot` and a line break: the next).
                    # Not \\STOP or \\UNLINK, which end things: they are done only as typed alone.
                    for line in (ctx.command.own_line, ctx.command.first_line):
                        if low <= len(line) <= high:
                            ctx.command = dataclasses.replace(ctx.command, args=line)
                            break
                if not (low <= len(ctx.command.args) <= high):
                    return Reply(
                        f"Usage: {usage_text}{'. ' + usage_note if usage_note else ''}", kind="usage"
                    )
                for resolver in resolvers:
                    result = resolver(msg, ctx)
                    found = await result if _awaitable(result) else cast("ResolverResult", result)
                    if not isinstance(found, dict):
                        return found  # answered in the handler's place
                    ctx.data.update(found)
                return await handler(msg, ctx)

            checked.__name__ = handler.__name__
            filters: list[Filter] = [Command(*names_upper)]
            if bare and low == high:
                filters.extend(BareCommand(name, low) for name in names_upper)
            for flt in filters:
                self.register(checked, flt, priority=priority, secret=secret, arity=(low, high))
            return handler

        return decorate

    def include(self, *routers: Router) -> None:
        for router in routers:
            if router is self or router in self.children:
                raise ValueError(f"router {router.name!r} is already included")
            self.children.append(router)

    def all_help_entries(self) -> list[str]:
        entries = list(self.help_entries)
        for child in self.children:
            entries.extend(child.all_help_entries())
        return entries

    def inner_middleware(self, middleware: Middleware) -> Middleware:
        self.inner_middlewares.append(middleware)
        return middleware

    # -- matching -----------------------------------------------------------------------------
    def walk(self, parents: tuple[Middleware, ...] = ()) -> list[tuple[Registration, tuple[Middleware, ...]]]:
        """Every registration in order, with the inner middlewares of its routers."""
        chain = parents + tuple(self.inner_middlewares)
        found = [(reg, chain) for reg in self.registrations]
        for child in self.children:
            found.extend(child.walk(chain))
        return found


# what a filter or a resolver returns when it is not awaitable: tested by type first, as
# `inspect.isawaitable` takes 1.4 us (an ABC's check) and a message meets eight filters
_PLAIN = frozenset({bool, dict, type(None), str, Reply})


def _awaitable(result: object) -> TypeGuard[Awaitable[Any]]:
    return type(result) not in _PLAIN and inspect.isawaitable(result)


async def _passes(filters: Sequence[Filter], msg: Inbound, ctx: Context) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    for flt in filters:
        result = flt(msg, ctx)
        if _awaitable(result):
            result = await result
        if not result:
            return None
        if isinstance(result, dict):
            data.update(result)
    return data


def _is_command(head: Filter | None) -> bool:
    """Whether a registration's first filter picks out a command (named, bare, or any)."""
    return type(head) in (Command, BareCommand) or head is any_command


def _may_match(reg: Registration, name: str | None, first: str | None, media: bool) -> bool:
    """Whether `reg`'s first filter can pass for a message whose known command is `name` and
    whose known bare word is `first` (None: not one any registration keys on). A message with
    media (`media`) is for the photos' handlers: a command in its text runs only when it is a
    priority one (`\\STOP`, `\\UNLINK`); any other would have dropped the photos and acted
    on something else (`\\AMOUNT 7` with a receipt set the amount of an older one)."""
    if not reg.filters:
        return True
    head = reg.filters[0]
    if media and not reg.priority and _is_command(head):
        return False
    if type(head) is Command:
        return name is not None and name in head.names
    if type(head) is BareCommand:
        return first == head.name
    return True


def _wrap(handler: Handler, middleware: Middleware) -> Handler:
    async def wrapped(msg: Inbound, ctx: Context) -> HandlerResult:
        return await middleware(handler, msg, ctx)

    return wrapped


def replies_of(result: HandlerResult) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, (str, Reply)):
        result = [result]
    return [
        r if isinstance(r, Reply) else Reply(r) for r in result if (r.text if isinstance(r, Reply) else r)
    ]


class Dispatcher(Router):
    """The root router, with outer middlewares and a fallback for messages nothing matched."""

    def __init__(self, name: str = "root") -> None:
        super().__init__(name)
        self.outer_middlewares: list[Middleware] = []
        self._compiled: list[tuple[Registration, Handler]] | None = None
        # The registrations a message may match, by its command and its first word when those
        # are names some registration keys on (else None), and whether it has media: filters
        # run only on these.
        self._candidates: dict[tuple[str | None, str | None, bool], list[tuple[Registration, Handler]]] = {}
        self._command_names: frozenset[str] = frozenset()
        self._bare_names: frozenset[str] = frozenset()
        self._help: tuple[str, ...] | None = None
        self._outer: Handler | None = None

    def outer_middleware(self, middleware: Middleware) -> Middleware:
        self.outer_middlewares.append(middleware)
        self._outer = None
        return middleware

    def _compile(self) -> list[tuple[Registration, Handler]]:
        if self._compiled is None:
            compiled = []
            for reg, chain in self.walk():
                handler = reg.handler
                for middleware in reversed(chain):
                    handler = _wrap(handler, middleware)
                compiled.append((reg, handler))
            self._compiled = compiled
            self._candidates = {}
            firsts = [reg.filters[0] for reg, _ in compiled if reg.filters]
            self._command_names = frozenset(n for f in firsts if type(f) is Command for n in f.names)
            self._bare_names = frozenset(f.name for f in firsts if type(f) is BareCommand)
        return self._compiled

    def _routes(
        self, msg: Inbound, ctx: Context, media: bool | None = None
    ) -> list[tuple[Registration, Handler]]:
        """The registrations, in order, whose first filter can pass for this message: a `Command`
        only for its names, a `BareCommand` only for its word; any other always. The same first
        match as trying all of them, without running dozens of filters per message. `media`:
        as for a message with (True) or without (False) media; None: as the message is."""
        compiled = self._compile()
        media = bool(msg.media) if media is None else media
        parsed = ctx.parse(msg.body)
        name = parsed.name if parsed is not None and parsed.name in self._command_names else None
        if media and msg.forwarded:
            # a forwarded photo's caption was typed by someone else: not even a priority command
            # runs (a `/stop` under a partner's receipt deleted the account), the photos are kept
            name = None
        first = None
        if self._bare_names:
            words = _words(_undropped(msg.body))
            first = bare_word(words[0]) if words else None
            if first not in self._bare_names:
                first = None
        found = self._candidates.get((name, first, media))
        if found is None:
            found = self._candidates[(name, first, media)] = [
                (reg, handler) for reg, handler in compiled if _may_match(reg, name, first, media)
            ]
        return found

    def _text_command(self, msg: Inbound, ctx: Context) -> None:
        """A message with media: the command its text would have run without them, if any, in
        `ctx.text_command`, with its secret arguments masked in the inbox as that command's
        own route masks them."""
        for reg, _ in self._routes(msg, ctx, media=False):
            head = reg.filters[0] if reg.filters else None
            # a priority one ran instead of the photos' handler, unless they were forwarded
            if (reg.priority and not msg.forwarded) or not _is_command(head):
                continue
            found = head(msg, ctx) if head is not None else None
            command = found.get("command") if isinstance(found, dict) else None
            if isinstance(command, CommandObject):
                ctx.text_command = command
                if reg.secret:
                    low, high = reg.arity
                    ctx.redacted_body = command.redacted(reg.secret, low <= len(command.args) <= high)
                return

    async def _route(self, msg: Inbound, ctx: Context) -> HandlerResult:
        if msg.media:
            self._text_command(msg, ctx)
        for reg, handler in self._routes(msg, ctx):
            data = await _passes(reg.filters, msg, ctx)
            if data is None:
                continue
            command = data.pop("command", None)
            if isinstance(command, CommandObject):
                ctx.command = command
                if reg.secret:
                    low, high = reg.arity
                    ctx.redacted_body = command.redacted(reg.secret, low <= len(command.args) <= high)
            ctx.data.update(data)
            ctx.log = ctx.log.bind(handler=reg.name)
            return await handler(msg, ctx)
        return None

    async def is_priority(self, msg: Inbound, ctx: Context) -> bool:
        """Whether the handler this message would go to is declared `priority` (the webhook asks,
        to store the message as one to handle at once). Runs filters only, no middleware."""
        for reg, _ in self._routes(msg, ctx):
            if await _passes(reg.filters, msg, ctx) is not None:
                return reg.priority
        return False

    async def feed(self, msg: Inbound, ctx: Context) -> list[Reply]:
        """Run the outer middlewares, then the first matching handler; return its replies."""
        if self._help is None:  # routers are complete once messages flow (as for `_compile`)
            self._help = tuple(self.all_help_entries())
        ctx.help_entries = self._help
        handler = self._outer
        if handler is None:
            handler = self._route
            for middleware in reversed(self.outer_middlewares):
                handler = _wrap(handler, middleware)
            self._outer = handler
        return replies_of(await handler(msg, ctx))


__all__ = [
    "BIDI_CONTROLS",
    "DOTTED_I",
    "BareCommand",
    "Command",
    "CommandObject",
    "Context",
    "Dispatcher",
    "Filter",
    "Handler",
    "HandlerResult",
    "Inbound",
    "Media",
    "Middleware",
    "Reply",
    "Resolver",
    "ResolverResult",
    "Router",
    "any_command",
    "command_name",
    "has_media",
    "has_text",
    "parse_command",
    "replies_of",
]
