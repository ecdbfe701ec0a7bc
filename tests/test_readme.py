"""The README links only to what exists: files in this repository and its own headings."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings() -> set[str]:
    text = re.sub(r"```.*?```", "", README, flags=re.DOTALL)  # `#` in code blocks is no heading
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def test_no_path_leaves_the_repository() -> None:
    assert "../" not in README


def test_every_link_points_at_something_that_exists() -> None:
    anchors = headings()
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links
    for target in links:
        if target.startswith(("http://", "https://")):
            continue
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert (ROOT / target.split("#")[0]).exists(), target


def test_every_file_named_exists() -> None:
    """Files named in the text (`BENCHMARKS.md`, `bot/gateway/templates/`, `constraints.txt`, ...)."""
    # relative names only: /etc/textwire/config.toml is the operator's, not ours
    named = set(re.findall(r"(?<![/\w.-])((?:[\w-]+/)*[\w-]+\.(?:md|toml|txt|py|ini))\b", README))
    named |= set(re.findall(r"`((?:bot|tests|bench|storage|handlers|scheduler)/[\w/.-]*)`", README))
    assert "BENCHMARKS.md" in named
    assert [name for name in sorted(named) if not (ROOT / name).exists()] == []


def test_the_restore_test_runs_no_sender_or_timer_on_the_copy() -> None:
    """ "Start a second server on a copy, with the same keys" started the whole service (role all)
    on it: with the live environment its sender texted the copy's queued replies and due
    reminders to people again, and its token timer spent the X refresh tokens (single use) the
    live service holds, whose people were then asked to relink. The copy serves pages only."""
    start = README.index("Test a restore now and then")
    paragraph = README[start : README.index("\n\n", start)]
    assert "`--role web`" in paragraph
    assert "refresh tokens" in paragraph


def test_the_commands_list_names_every_option_of_every_command() -> None:
    """The Commands list showed `textwire chat [--from ...] [--photo ...] [--text ...]` without
    `--channel`: a newcomer reading it had no way to learn that chat talks WhatsApp and Telegram
    too. Each command's entry names every option its parser takes (and their choices), `--config`
    apart (the paragraph under the list says it is everyone's)."""
    import argparse

    from bot.app.cli import _parser

    start = README.index("## Commands")
    block = README[start : README.index("`python -m bot ...` works the same", start)]
    entries = re.split(r"\n    (?=textwire )", block)
    parser = _parser()
    assert "--version" in block
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        entry = next(e for e in entries if e.startswith(f"textwire {name} "))
        for action in sub._actions:
            options = [o for o in action.option_strings if o.startswith("--")]
            if not options or options == ["--help"] or options == ["--config"]:
                continue
            assert options[0] in entry, (name, options[0])
            for choice in action.choices or ():
                assert choice in entry, (name, options[0], choice)


def test_commands_in_code_spans_have_one_backslash() -> None:
    """The Layout section wrote `\\\\BALANCE`, `\\\\STOP?` and "`Unknown command \\\\JION. Did you mean
    \\\\JOIN?`" in code spans, where Markdown shows both backslashes: the reply quoted was not the
    bot's, and the commands were not as the rest of the README and `\\HELP` write them. A command is
    typed and answered with one backslash; two belong only in Python source (`usage="\\\\JOIN ..."`)."""
    text = re.sub(r"```.*?```", "", README, flags=re.DOTALL)
    spans = re.findall(r"`([^`]+)`", text)
    doubled = [span for span in spans if re.search(r"\\\\[A-Z]", span) and "router.command(" not in span]
    assert doubled == []


def test_a_name_shared_with_one_who_left_shows_as_the_readme_says() -> None:
    """README said a name shared with a current member shows as `Bob (left)` for anyone who left,
    `\\LEAVE` or `\\STOP`; \\BALANCE showed one who left by `\\LEAVE` (who keeps their number) as
    `Bob (2222)`, so `\\PAID Bob (left) 5`, as the README taught, was "No one in house goes by
    Bob (left)". Each form the README names is the one display_names gives."""
    from bot.features.ledger.book import display_names
    from storage.ledger import FORMER_PREFIX, Member

    start = README.index("A name shared with")
    paragraph = README[start : README.index("\n- ", start)]
    current, left_by_leave = Member(1, "Bob", "+15550004444"), Member(2, "Bob", "+15550002222")
    shown = display_names([current, left_by_leave])
    assert shown[2] == "Bob (2222)"
    assert "`Bob (2222)` while they\n  only left by `\\LEAVE`" in paragraph
    gone_by_stop = Member(3, "Bob", f"{FORMER_PREFIX}3")
    assert display_names([current, gone_by_stop])[3] == "Bob (left)"
    assert "`Bob (left)` once its owner is gone by `\\STOP`" in paragraph


def test_the_claims_of_a_process_that_gave_up_stopping_come_back_as_a_killed_ones_do() -> None:
    """After `app.stop_timed_out` the README said the claims the process held "come back by lease
    (5 minutes)": no code reads a claim's lease time. The process exits and stops heartbeating,
    and its claims are taken over as a killed process's are, within STALE_SECONDS +
    HEARTBEAT_SECONDS (bot/pipeline/leases.py), the figure the README gives for kill -9."""
    from bot.pipeline.leases import HEARTBEAT_SECONDS, STALE_SECONDS

    text = " ".join(README.split())
    found = re.search(r"The claims it held come back[^.]*\.", text)
    assert found is not None
    figure = f"about {int(STALE_SECONDS + HEARTBEAT_SECONDS)} s"
    assert figure in found.group(0)
    assert "minutes" not in found.group(0)
    assert f"within {figure}" in text  # the kill -9 paragraph says the same


def test_the_production_install_works_as_written() -> None:
    """Production, A process manager: `useradd --system` makes no home folder (whatever
    login.defs says), so `sudo -u textwire python3.11 -m venv /srv/textwire/.venv` failed with
    Permission denied; and `pip install .` run as textwire builds in the checkout, which that
    user cannot write (`could not create 'textwire.egg-info'`). The folder is made with the user,
    and textwire installs a wheel built by whoever owns the checkout."""
    section = README[README.index("### A process manager") :]
    block = section[section.index("```sh") : section.index("```\n", section.index("```sh") + 5)]
    lines = [line for line in block.splitlines() if line.startswith("sudo") or line.startswith("python")]
    (useradd,) = (line for line in lines if "useradd" in line)
    assert "--create-home" in useradd.split() or "-m" in useradd.split()
    for line in lines:
        if line.startswith("sudo -u textwire") and " install " in line:
            assert not line.rstrip().endswith(" ."), line


def test_the_production_steps_make_the_folders_the_units_need() -> None:
    """systemd refuses to start a unit whose ReadWritePaths= does not exist (status 226/NAMESPACE),
    and `install` without -D makes no /etc/textwire: both steps stopped a first install."""
    units = (ROOT / "deploy" / "systemd").glob("*.service")
    paths = {
        line.split("=", 1)[1].strip()
        for unit in units
        for line in unit.read_text(encoding="utf-8").splitlines()
        if line.startswith("ReadWritePaths=")
    }
    assert paths == {"/srv/textwire/data"}
    section = README[README.index("### A process manager") : README.index("### Backups")]
    commands = [line.split("#")[0].split() for line in section.splitlines() if line.startswith("sudo")]
    made = {c[-1] for c in commands if "mkdir" in c} | {c[-1] for c in commands if "--create-home" in c}
    assert paths <= made
    for command in commands:
        if command[1] == "install" and command[-1].startswith("/etc/textwire/"):
            assert "-D" in command, command
