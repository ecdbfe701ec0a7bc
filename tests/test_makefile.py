"""The Makefile: a .venv made by another Python is rebuilt, and `make clean` never deletes data/.

Run in a scratch folder with the real Makefile (`make -f`) and stand-in interpreters, so nothing
of this checkout is touched and no real virtualenv is built."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

# A stand-in Python: `-c` prints its identity (version and base prefix), `-m venv DIR` makes DIR
# with a copy of itself as bin/python, anything else (pip install) succeeds.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-c" ]; then echo "{ident}"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi
exit 0
"""


def fake_python(path: Path, ident: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_PYTHON.format(ident=ident), encoding="utf-8")
    path.chmod(0o755)
    return path


def make(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(  # noqa: S603
        [MAKE, "--no-print-directory", "-f", str(ROOT / "Makefile"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_venv_made_by_another_python_is_rebuilt(scratch: Path) -> None:
    python = fake_python(scratch / "bin" / "python3.11", "3.11.9 /opt/python-3.11.9")
    old = fake_python(scratch / ".venv" / "bin" / "python", "3.10.4 /usr")
    (scratch / ".venv" / "old-file").write_text("from the old venv", encoding="utf-8")
    (scratch / ".venv" / ".installed").touch()  # newer than pyproject.toml: would look current
    assert old.exists()

    first = make(scratch, "install", f"PYTHON={python}")
    assert first.returncode == 0, first.stderr
    assert "made by another Python" in first.stdout
    assert not (scratch / ".venv" / "old-file").exists()
    assert (scratch / ".venv" / ".installed").exists()
    assert "3.11.9" in (scratch / ".venv" / "bin" / "python").read_text(encoding="utf-8")

    # the same Python again: the venv is current and kept
    (scratch / ".venv" / "kept").touch()
    second = make(scratch, "install", f"PYTHON={python}")
    assert second.returncode == 0, second.stderr
    assert "made by another Python" not in second.stdout
    assert "venv" not in second.stdout
    assert (scratch / ".venv" / "kept").exists()


def test_a_venv_whose_python_is_gone_is_rebuilt(scratch: Path) -> None:
    python = fake_python(scratch / "bin" / "python3.11", "3.11.9 /opt/python-3.11.9")
    (scratch / ".venv" / "bin").mkdir(parents=True)
    (scratch / ".venv" / "bin" / "python").symlink_to(scratch / "removed" / "python3.11")
    (scratch / ".venv" / ".installed").touch()
    result = make(scratch, "install", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert "made by another Python (gone)" in result.stdout
    assert not (scratch / ".venv" / "bin" / "python").is_symlink()


def test_clean_never_deletes_data_and_clean_data_asks_first(scratch: Path) -> None:
    for folder in (".venv/bin", ".mypy_cache", ".ruff_cache", "data/media"):
        (scratch / folder).mkdir(parents=True)
    (scratch / "data" / "fernet.key").write_text("key", encoding="utf-8")
    result = make(scratch, "clean")
    assert result.returncode == 0, result.stderr
    assert not (scratch / ".venv").exists()
    assert not (scratch / ".mypy_cache").exists()
    assert (scratch / "data" / "fernet.key").read_text(encoding="utf-8") == "key"

    refused = make(scratch, "clean-data")
    assert refused.returncode != 0
    assert "cannot be undone" in refused.stdout
    assert "make clean-data YES=1" in refused.stdout
    assert (scratch / "data" / "fernet.key").exists()

    done = make(scratch, "clean-data", "YES=1")
    assert done.returncode == 0, done.stderr
    assert not (scratch / "data").exists()
