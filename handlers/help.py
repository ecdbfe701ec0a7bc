"""`\\HELP`: the command families in one segment; `\\HELP <family>` (`\\HELP ROOMS`) their commands.
Also the answer to an unknown command.

A family lists command names; each command's entry is the `help=` (or usage) it registered with,
so a new command shows up by being registered and named in a family here. A registered command no
family names still shows, under `\\HELP MORE`.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.channel import FitsOne
from bot.features.x.accounts import WELCOME_NO_X
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Reply, Router, any_command, command_name
from handlers.account import STOP_HELP, STOP_HELP_PAIRED
from storage import pairing

router = Router(name=__name__)
fallback = Router(name=__name__ + ".unknown")


@dataclass(frozen=True)
class Family:
    name: str  # what follows \HELP, upper case
    title: str  # how the family's answer starts
    commands: tuple[str, ...]  # command names, in the order shown


FAMILIES: tuple[Family, ...] = (
    Family("ROOMS", "Rooms", ("CREATE", "JOIN", "LEAVE", "ROOMS", "USE", "RECEIPTS", "PASSWORD")),
    Family("MONEY", "Splitting the bill", ("NAME", "AMOUNT", "SPLIT", "BALANCE", "PAID", "CURRENCY")),
    Family("REMIND", "Reminders and statements", ("REMIND", "TIMEZONE", "STATEMENT")),
    Family("X", "X", ("LINK", "UNLINK")),
    Family("ACCOUNT", "Account", ("PAIR", "UNPAIR", "STOP")),
)
MORE = Family("MORE", "More", ())

# What a newcomer does first, then where the rest is (issue 23: the families alone told a new
# person nothing): one GSM-7 segment with every family named (tests/channels/twilio/test_segments.py).
INTRO = "textwire: \\JOIN room pw or \\CREATE room pw, send receipt photos, \\BALANCE: who owes."
OUTRO = "STOP to opt out."


def _name_of(entry: str) -> str:
    """`\\JOIN <room> <password>` -> `JOIN`."""
    return entry.split(maxsplit=1)[0].lstrip("\\/").upper() if entry.strip() else ""


def _entries(help_entries: tuple[str, ...]) -> dict[str, str]:
    return {_name_of(entry): entry for entry in help_entries if _name_of(entry)}


# The registered commands are fixed once the dispatcher is built (`Context.help_entries` is the
# same tuple for every message): the families and the help text are worked out once, not on
# every \HELP (14 commands parsed a text: the benchmark texts \HELP).
@functools.lru_cache(maxsize=8)
def _families_of(help_entries: tuple[str, ...]) -> tuple[tuple[Family, tuple[str, ...]], ...]:
    """Each family with the entries of its registered commands; families with none are left out."""
    entries = _entries(help_entries)
    named: set[str] = set()
    result: list[tuple[Family, tuple[str, ...]]] = []
    for family in FAMILIES:
        found = tuple(entries[name] for name in family.commands if name in entries)
        named.update(family.commands)
        if found:
            result.append((family, found))
    rest = tuple(entry for name, entry in entries.items() if name not in named and name != "HELP")
    if rest:
        result.append((MORE, rest))
    return tuple(result)


@functools.lru_cache(maxsize=8)
def _help_text_of(help_entries: tuple[str, ...]) -> str:
    names = ", ".join(family.name for family, _ in _families_of(help_entries))
    return f"{INTRO} More: \\HELP {names}. {OUTRO}"


def help_text(ctx: Context) -> str:
    """The first steps, then the families, one segment: `More: \\HELP ROOMS, MONEY, X, ACCOUNT`."""
    return _help_text_of(ctx.help_entries)


@functools.lru_cache(maxsize=8)
def _full_text_of(help_entries: tuple[str, ...]) -> str:
    lines = [INTRO]
    lines += [f"{family.title}: {' '.join(entries)}" for family, entries in _families_of(help_entries)]
    return "\n".join([*lines, OUTRO])


def help_for(msg: Inbound, ctx: Context) -> str:
    """Every command, a family a line, where the sender's channel takes it in one message
    (Telegram: 4,096 characters); else the one-segment `help_text`."""
    full = _full_text_of(ctx.help_entries)
    return full if ctx.deps.services.fits(msg.sender.channel)(full) else help_text(ctx)


def closest(word: str, known: Sequence[str]) -> str | None:
    """The word of `known` that `word`, mistyped, most likely is (`RECIEPTS` -> `RECEIPTS`)."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.7)
    return close[0] if close else None


def family_text(ctx: Context, word: str, fits: FitsOne) -> str:
    """The commands of the family `word` (or of the family holding the command `word`), also when
    `word` is a family or command mistyped (`room`, `reciepts`)."""
    wanted = command_name(word.lstrip("\\/"))
    families = _families_of(ctx.help_entries)
    known = [family.name for family, _ in families] + list(_entries(ctx.help_entries))
    wanted = wanted if wanted in known else meant_in(wanted, known) or wanted
    for family, entries in families:
        if wanted == family.name or wanted in (_name_of(e) for e in entries):
            return f"{family.title}: {' '.join(entries)}"
    names = ", ".join(family.name for family, _ in families)
    text = f"No help on {word[:20]}. Try \\HELP with one of: {names}."
    return text if fits(text) else f"No help on that. Try \\HELP with one of: {names}."


def asked_about(ctx: Context, words: Sequence[str]) -> str:
    """The word of `\\HELP <words>` to give help on: the first, as typed or mistyped; when it is
    no family or command, a later word that is one exactly (`\\HELP how do I join?` said "No help
    on how.", where `join` was right there)."""
    families = _families_of(ctx.help_entries)
    known = [family.name for family, _ in families] + list(_entries(ctx.help_entries))
    first = command_name(words[0].lstrip("\\/"))
    if first in known or meant_in(first, known):
        return words[0]
    return next(
        (
            word
            for word in words[1:]
            if (name := command_name(word.lstrip("\\/"))) in known or in_other_words(name, known)
        ),
        words[0],
    )


# words that ask for the whole help, not one family's (`\\HELP me`, `\\HELP all commands` said
# "No help on me.")
_WHOLE_HELP = frozenset({"ALL", "COMMAND", "COMMANDS", "ME", "PLEASE", "PLS", "LIST", "MENU", "EVERYTHING"})


def asks_for_all(words: Sequence[str]) -> bool:
    """Whether `\\HELP <words>` asks for the whole help: every word is one of `_WHOLE_HELP`."""
    return all(command_name(word.lstrip("\\/")) in _WHOLE_HELP for word in words)


@router.command("HELP", args=(0, 99), help="")
async def help_command(msg: Inbound, ctx: Context) -> HandlerResult:
    if ctx.args and not asks_for_all(ctx.args):
        text = family_text(ctx, asked_about(ctx, ctx.args), ctx.deps.services.fits(msg.sender.channel))
        return Reply(await as_said_to(msg, ctx, text), kind="help")
    return Reply(await as_said_to(msg, ctx, help_for(msg, ctx)), kind="help")


async def paired(ctx: Context) -> bool:
    """Whether the sender's person has other addresses (`\\PAIR`)."""
    async with ctx.deps.db.read() as conn:
        return len(await pairing.addresses_of(conn, ctx.user.id)) > 1


async def as_said_to(msg: Inbound, ctx: Context, text: str) -> str:
    """The help as it holds for the sender: from a paired address `\\STOP` takes that address out
    and deletes nothing else ("\\STOP delete your account" kept a paired person from using it)."""
    if STOP_HELP not in text or not await paired(ctx):
        return text
    said = text.replace(STOP_HELP, STOP_HELP_PAIRED)
    fits = ctx.deps.services.fits(msg.sender.channel)
    return said if fits(said) or not fits(text) else text  # one segment stays one


WELCOME = "Welcome to textwire!"


def welcome_for(msg: Inbound, ctx: Context) -> str:
    """The welcome, then the help where the channel fits both in one message; else (SMS, one
    segment) the welcome a newcomer's first text gets, which says where to start (a first START
    from a flyer got only "Send \\HELP for the commands.")."""
    listing = help_for(msg, ctx).removeprefix("textwire: ")  # the welcome names the bot already
    text = f"{WELCOME} {listing}\n/help shows this list again."
    if not ctx.deps.services.fits(msg.sender.channel)(text):  # SMS: one segment
        text = WELCOME_NO_X
    return text


@router.command("START", args=(0, 99), help="")
async def start_command(msg: Inbound, ctx: Context) -> HandlerResult:
    """Telegram's /start (a chat's first message; a deep link's payload is ignored): the welcome,
    then the help."""
    return Reply(await as_said_to(msg, ctx, welcome_for(msg, ctx)), kind="help")


@functools.lru_cache(maxsize=8)
def _command_names(help_entries: tuple[str, ...]) -> tuple[str, ...]:
    return (*_entries(help_entries), "HELP")


# a text that is a command's name alone, typed without its backslash (`balance`, `Rooms?`): the
# carrier keywords (STOP, START, HELP) are taken before, whatever the case
_BARE_WORD = re.compile(r"\s*([A-Za-z]{3,12})[.!?]*\s*")


def bare_command(ctx: Context, text: str) -> str | None:
    """The command a text that is only its name (`balance`) meant, or None."""
    found = _BARE_WORD.fullmatch(text)
    if found is None:
        return None
    name = found[1].upper()
    return name if name in _listed(ctx.help_entries) else None


@functools.lru_cache(maxsize=8)
def _listed(help_entries: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_entries(help_entries))


# the commands by the words French, Spanish, Portuguese, Italian and German speakers type for them
# (`\\AIDE` was asked "Did you mean \\PAID?"): a hint only, never run as the command
_IN_OTHER_WORDS = {
    word: command
    for command, words in {
        "HELP": "AIDE AYUDA AJUDA AIUTO HILFE",
        "BALANCE": "SOLDE SALDO SALDI BILAN CUENTAS CONTAS CONTI",
        "JOIN": "REJOINDRE UNIRSE UNIR ENTRAR BEITRETEN",
        "CREATE": "CREER CREAR CRIAR CREA ERSTELLEN",
        "LEAVE": "QUITTER SALIR SAIR ESCI VERLASSEN",
        "PAID": "PAYE PAGADO PAGUE PAGO PAGATO BEZAHLT",
        "AMOUNT": "MONTANT MONTO IMPORTE VALOR IMPORTO BETRAG",
        "NAME": "NOM NOMBRE NOME",
        "SPLIT": "PARTAGER DIVIDIR REPARTIR DIVIDI TEILEN",
        "RECEIPTS": "RECUS TICKETS RECIBOS SCONTRINI RICEVUTE BELEGE QUITTUNGEN",
        "CURRENCY": "DEVISE MONEDA MOEDA VALUTA WAHRUNG",
        "REMIND": "RAPPEL RAPPELER RECORDAR LEMBRAR RICORDA ERINNERN",
        "STATEMENT": "RELEVE EXTRACTO EXTRATO ESTRATTO AUSZUG",
        "ROOMS": "SALLES SALAS STANZE RAUME",
    }.items()
    for word in words.split()
}


def plain_letters(name: str) -> str:
    """A command name as plain letters, its accents off (`PAYÉ` -> `PAYE`, `WÄHRUNG` -> `WAHRUNG`)."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


def in_other_words(name: str, known: Sequence[str]) -> str | None:
    """The command of `known` another language's word names (`SALDO` -> `BALANCE`), or None:
    `\\HELP SALDO` said "No help on SALDO." where `\\SALDO` alone was offered `\\BALANCE`."""
    other = _IN_OTHER_WORDS.get(plain_letters(name))
    return other if other in known else None


def meant_in(name: str, known: Sequence[str]) -> str | None:
    """The word of `known` that `name` names in another language or mistyped. Another language's
    word for a command not in `known` is none of them: `\\HELP aide` (French) was the money
    family, `aide` read as `paid` mistyped."""
    if (other := in_other_words(name, known)) is not None:
        return other
    return None if plain_letters(name) in _IN_OTHER_WORDS else closest(name, known)


def did_you_mean(ctx: Context, name: str) -> str | None:
    """The listed command a mistyped name most likely meant (`JION` -> `JOIN`), if one is close,
    or the one another language's word names (`AIDE`, `SALDO`)."""
    names = _command_names(ctx.help_entries)
    return in_other_words(name, names) or closest(name, names)


@fallback.message(any_command)
async def unknown_command(msg: Inbound, ctx: Context) -> HandlerResult:
    command = ctx.command
    if command.args:  # `\JION house pw`: a typed password is kept no more than a \JOIN's
        ctx.redacted_body = command.redacted((), well_formed=False)
    families = _families_of(ctx.help_entries)
    if command.name in (family.name for family, _ in families):  # `\\MONEY`, as \\HELP names it
        text = family_text(ctx, command.name, ctx.deps.services.fits(msg.sender.channel))
        return Reply(await as_said_to(msg, ctx, text), kind="help")
    name = command.name[:20]
    # the name is echoed only when it is plain (an emoji or a curly quote would make the SMS UCS-2)
    plain = name.isascii() and name.replace("_", "").isalnum()
    shown = f" \\{name}" if plain else ""
    # `\\PAYÉ`: not echoed (an accent may not be GSM-7), but the command it names is offered
    meant = did_you_mean(ctx, command.name if plain else plain_letters(command.name))
    meant = meant if plain or plain_letters(command.name) in _IN_OTHER_WORDS else None
    hint = f" Did you mean \\{meant}?" if meant else ""
    if not plain and not meant and ctx.user.x_linked:
        # `\\o/ we won`, `/r/python is great`: meant as a post, and "Unknown command." left the
        # poster to guess whether it went to X
        return Reply(NOT_POSTED, kind="unknown-command")
    return Reply(f"Unknown command{shown}.{hint} Send \\HELP for the list.", kind="unknown-command")


NOT_POSTED = (
    "Unknown command, so nothing was posted: a text that starts with \\ or / is a command. "
    "Send \\HELP for the list."
)
