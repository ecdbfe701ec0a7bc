"""The release: `bot.__version__`, which pyproject.toml reads and `textwire --version` prints."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from bot import __version__
from storage.db import head_revision
from tests import ROOT
from tests.app.test_backup import run_cli


def test_the_version_names_the_release_and_its_schema(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"textwire {__version__} (schema {head_revision()})"
    assert importlib.metadata.version("textwire") == __version__  # pyproject reads bot.__version__


def test_the_changelog_has_this_release() -> None:
    """A release has its section; a development version's changes are the Unreleased ones, and
    it names a release after the last one (0.2.0's code and today's both said 0.2.0)."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    release, dev, _ = __version__.partition(".dev")
    if not dev:
        assert f"## {__version__} " in changelog
        return
    assert "## Unreleased\n" in changelog
    assert f"## {release} " not in changelog  # not released yet
    last = re.search(r"^## (\d+)\.(\d+)\.(\d+) ", changelog, re.MULTILINE)
    assert last is not None
    assert tuple(int(n) for n in release.split(".")) > tuple(int(n) for n in last.groups())
