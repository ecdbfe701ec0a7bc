"""The tests mirror the tree: bot/pipeline/worker.py is tested in tests/pipeline/test_worker.py,
handlers/rooms.py in tests/handlers/test_rooms.py. A module without a mirrored test file is on
UNTESTED below, which may only shrink: a new module comes with its tests."""

from __future__ import annotations

from pathlib import Path

from tests import ROOT

PACKAGES = ("bot", "handlers", "storage", "scheduler")

# modules whose tests are not (yet) in a file of their own; each is exercised through others
UNTESTED: frozenset[str] = frozenset(
    {
        "bot/app/channels.py",
        "bot/app/features.py",
        "bot/app/runtime.py",
        "bot/app/serve.py",
        "bot/core/errors.py",
        "bot/core/feature.py",
        "bot/core/message.py",
        "bot/features/ocr/feature.py",
        "bot/features/receipts/cleanup.py",
        "bot/features/x/accounts.py",
        "bot/gateway/gate.py",
        "bot/pipeline/lifecycle.py",
        "handlers/__init__.py",
        "handlers/filters.py",
        "storage/health.py",
        "storage/leases.py",
        "storage/receipts.py",
        "storage/rooms.py",
        "storage/schema.py",
        "storage/xaccounts.py",
    }
)


def mirrored(module: Path) -> Path:
    """bot/pipeline/worker.py -> tests/pipeline/test_worker.py; storage/users.py ->
    tests/storage/test_users.py; a package's __init__.py -> its folder's test_<package>.py."""
    parts = list(module.relative_to(ROOT).parts)
    if parts[0] == "bot":
        parts = parts[1:]
    name = parts[-1].removesuffix(".py")
    if name == "__init__":
        name = parts[-2] if len(parts) > 1 else "bot"
        parts = parts[:-1]
        folder = parts[:-1] if len(parts) > 1 else parts
    else:
        folder = parts[:-1]
    return ROOT.joinpath("tests", *folder, f"test_{name}.py")


def modules() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel.endswith("__main__.py"):
                continue
            if path.name == "__init__.py" and len(path.read_text(encoding="utf-8").strip().splitlines()) <= 3:
                continue  # a package's docstring only
            found.append(path)
    return found


def test_every_module_has_tests_of_its_own_or_is_listed() -> None:
    missing = {m.relative_to(ROOT).as_posix() for m in modules() if not mirrored(m).exists()}
    assert missing - UNTESTED == set(), "new modules without a mirrored test file"
    assert UNTESTED - missing == set(), "these have tests now: take them off UNTESTED"


def test_the_mirror_of_a_module() -> None:
    assert mirrored(ROOT / "bot/pipeline/worker.py") == ROOT / "tests/pipeline/test_worker.py"
    assert mirrored(ROOT / "handlers/rooms.py") == ROOT / "tests/handlers/test_rooms.py"
    assert mirrored(ROOT / "storage/users.py") == ROOT / "tests/storage/test_users.py"
