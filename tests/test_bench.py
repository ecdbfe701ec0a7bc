"""The benches under bench/ still run against today's code: each once, tiny, as a real process.

They are run by hand for BENCHMARKS.md, so nothing else would notice when a change to the code
they drive breaks them (bench/sqlite_hotpath.py read `Inbound.from_phone` for two stops after
the channel seam renamed it). No numbers are checked here: only that each completes and prints
what it reports. Every core setting is 0, so one core is enough; bench/webhook.py needs wrk and
bench/capacity.py PostgreSQL on a core of its own, so neither is run here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RUNS = {
    "sqlite_hotpath": (["--cycles", "3", "--history", "20"], "SQLite in all"),
    "e2e": (
        [
            "--only", "durable,textwire", "--seconds", "0.5", "--rates", "20", "--burst", "60",
            "--senders", "20", "--repeat", "1", "--server-core", "0", "--load-core", "0",
        ],
        "textwire / durable: texts/s",
    ),
    "refresh": (["--users", "20", "--bench-core", "0", "--fake-core", "0"], '"rows_lost": 0'),
    "purge": (["--rows", "200"], "200 inbox rows"),
    "lean": (["--ops", "50", "--rounds", "1", "--core", "0"], "write: write()"),
    "sender_count": (["--done", "50", "--runs", "1"], "users.senders: median"),
    "media": (
        ["--messages", "4", "--photos", "1", "--photo-kb", "20", "--rounds", "1", "--senders", "2",
         "--server-core", "0"],
        "failed messages 0",
    ),
    "receipts": (["--count", "2", "--skip-server"], '"receipts": 2'),
    "thumbs": (["--photos", "1", "--photo-kb", "50", "--phone", "1", "--reps", "1"], "CPU per thumbnail"),
    "ledger": (["--members", "5", "--receipts", "30", "--payments", "5", "--rounds", "1"], "adding up: every share"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bench_runs(name: str, tmp_path: Path) -> None:
    args, expected = RUNS[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(  # noqa: S603 - the repo's own benches
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert expected in output, output[-3000:]
