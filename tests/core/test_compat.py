"""The `pkg_resources` stand-in lets twitter-text-parser load without setuptools (the image)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from bot.core.compat import resource_string
from tests import ROOT


def test_resource_string_reads_the_file_beside_a_module() -> None:
    import twitter_text.regexp.emoji as emoji

    expected = (Path(emoji.__file__).parent / "emoji-test.txt").read_bytes()
    assert resource_string("twitter_text.regexp.emoji", "emoji-test.txt") == expected
    assert resource_string("twitter_text.regexp", "emoji-test.txt") == expected


def test_twitter_text_loads_without_setuptools(tmp_path: Path) -> None:
    # a finder that hides pkg_resources, as in a venv without setuptools
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'pkg_resources': raise ImportError('hidden')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import bot.features.x.client\n"
        "print(type(sys.modules['pkg_resources']).__name__, sys.modules['pkg_resources'].__doc__)\n"
        "print(bot.features.x.client.weighted_length('hi 😀'))\n"
    )
    assert importlib.util.find_spec("bot") is not None
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "textwire's stand-in" in result.stdout
    assert result.stdout.splitlines()[-1] == "5"
