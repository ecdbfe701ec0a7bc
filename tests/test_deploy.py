"""deploy/: the Prometheus alert rules are valid and fire as intended (promtool, from Debian's
prometheus package; skipped, saying so, without it), and every expression in them and in the
Grafana dashboard names a metric textwire exports: a renamed metric fails here, not in the night."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.metrics import Metrics
from tests import ROOT

DEPLOY = ROOT / "deploy"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool is missing: apt-get install prometheus"
METRIC = re.compile(r"\b(textwire_[a-z_]+|up)\b")
NOT_OURS = {"up"}  # Prometheus's own series of each scrape


def exported() -> set[str]:
    """The series names textwire's /metrics serves: counters as `_total`, histograms as
    `_bucket`, `_count`, `_sum`, gauges as they are."""
    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        else:
            names.add(family.name)
    return names


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((DEPLOY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    return [target["expr"] for panel in doc["panels"] for target in panel["targets"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(  # noqa: S603 - promtool on our own files
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_the_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_the_alert_rules_fire_as_intended() -> None:
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_every_expression_names_a_metric_textwire_exports(where: str) -> None:
    exprs = [rule["expr"] for rule in rules()] if where == "alerts" else dashboard_exprs()
    assert exprs
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named - NOT_OURS, exprs
    assert named - NOT_OURS - exported() == set()


def test_the_alerts_cover_what_an_operator_must_hear_of() -> None:
    """Issue 27: backlog age, send failures and Twilio's 21610 and 14107, a part not ready, X
    refresh failures, reply loops, OCR failing, database errors."""
    exprs = " ".join(rule["expr"] for rule in rules())
    for needle in (
        "textwire_inbox_oldest_due_seconds",
        'status="failed"',
        'code="21610"',
        'code="14107"',
        "textwire_ready",
        "refresh_failed",
        "textwire_loops_total",
        'outcome="failed"',
        "textwire_db_errors_total",
    ):
        assert needle in exprs, needle
    assert all(rule["labels"]["severity"] in ("page", "warning") for rule in rules())


def test_the_dashboard_is_one_grafana_document() -> None:
    doc = json.loads((DEPLOY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert doc["uid"] == "textwire"
    assert all(panel["targets"] for panel in doc["panels"])


def test_a_renamed_metric_would_fail_here(tmp_path: Path) -> None:
    """The check above is not vacuous: a name textwire does not export is caught."""
    assert {"textwire_inbox_depth", "textwire_loops_total"} <= exported()
    assert "textwire_inbox_backlog_seconds" not in exported()
