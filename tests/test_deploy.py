"""deploy/: the Prometheus alert rules are valid and fire as intended (promtool, from Debian's
prometheus package; skipped, saying so, without it), and every expression in them and in the
Grafana dashboard names a metric textwire exports: a renamed metric fails here, not in the night.
The systemd units verify, the environment file names every secret and fills none, the proxies
reach the web units' ports, and nginx with the shipped configuration logs no link's secret."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.config import ConfigError, load_config
from bot.core.metrics import Metrics
from tests import ROOT

DEPLOY = ROOT / "deploy"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool is missing: apt-get install prometheus"
METRIC = re.compile(r"\b(textwire_[a-z_]+|process_[a-z_]+|up)\b")
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
    refresh failures, X posts failing, reply loops, OCR failing, database errors."""
    exprs = " ".join(rule["expr"] for rule in rules())
    for needle in (
        "textwire_inbox_oldest_due_seconds",
        'status="failed"',
        'code="21610"',
        'code="14107"',
        "textwire_ready",
        "refresh_failed",
        "textwire_x_refresh_stopped",
        "textwire_loops_total",
        'outcome="failed"',
        "textwire_db_errors_total",
        'result="error"',  # webhooks the inbox could not store: on a web process nothing else fired
        # sends retried and none going out (Twilio's API down): failures come only an hour later
        'status="retry"',
        # webhooks refused for their signature (a wrong public_url or auth token): texts lost
        'result="forbidden"',
        # messages retried all day on an outage of the media store or the channel's media host
        'result="retry"',
        # X answering posts 5xx or unreachable: each text told to check its timeline, or kept
        "unconfirmed",
        # a process crashing and brought back within seconds (up is 0 only between scrapes)
        "process_start_time_seconds",
    ):
        assert needle in exprs, needle
    assert all(rule["labels"]["severity"] in ("page", "warning") for rule in rules())


# gauges each process reads from the shared database at its scrape: every web and worker process
# reports the same whole queue, so a panel that adds them up across processes multiplies it
DATABASE_WIDE = ("textwire_inbox_depth", "textwire_outbox_depth", "textwire_inbox_oldest_due_seconds")


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_the_dashboards_queues_count_each_message_once_across_processes(tmp_path: Path) -> None:
    """Three processes (a web and two workers, as compose runs them) each report the same 7
    pending texts and 3 queued replies: the dashboard shows 7 and 3, not 21 and 9."""
    exprs = [expr for expr in dashboard_exprs() if any(name in expr for name in DATABASE_WIDE)]
    assert len(exprs) >= 3, exprs
    series = []
    for instance in ("web1", "worker1", "worker2"):
        series += [
            {"series": f'textwire_inbox_depth{{instance="{instance}", status="pending"}}', "values": "7x5"},
            {"series": f'textwire_outbox_depth{{instance="{instance}", status="queued"}}', "values": "3x5"},
            {"series": f'textwire_inbox_oldest_due_seconds{{instance="{instance}"}}', "values": "40x5"},
        ]
    want = {
        "textwire_inbox_depth": ('{status="pending"}', 7),
        "textwire_outbox_depth": ('{status="queued"}', 3),
    }
    tests = []
    for expr in exprs:
        (name,) = (name for name in DATABASE_WIDE if name in expr)
        labels, value = want.get(name, ("{}", 40))
        tests.append({"expr": expr, "eval_time": "2m", "exp_samples": [{"labels": labels, "value": value}]})
    doc = {
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    (tmp_path / "queues.test.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - promtool on a file of ours
        [PROMTOOL or "promtool", "test", "rules", str(tmp_path / "queues.test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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


# -- systemd units, the environment file, the proxies ---------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
UNITS = ("textwire-migrate.service", "textwire-web@.service", "textwire-worker@.service")
SECRETS = (  # config keys that are secrets: never in config.toml, all in deploy/env.example
    "TEXTWIRE_SECURITY_FERNET_KEYS",
    "TEXTWIRE_DATABASE_URL",
    "TEXTWIRE_TWILIO_AUTH_TOKEN",
    "TEXTWIRE_TELEGRAM_BOT_TOKEN",
    "TEXTWIRE_TELEGRAM_WEBHOOK_SECRET",
    "TEXTWIRE_X_CLIENT_SECRET",
    "TEXTWIRE_SERVER_METRICS_TOKEN",
)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing: apt-get install systemd")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` on each unit, its ExecStart pointed at this checkout's textwire
    (it checks the command exists); any warning (an unknown key, a bad value) fails too."""
    textwire = Path(sys.executable).parent / "textwire"
    assert textwire.exists()
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
        assert "/srv/textwire/.venv/bin/textwire" in text
        (tmp_path / unit).write_text(text.replace("/srv/textwire/.venv/bin/textwire", str(textwire)))
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(  # noqa: S603 - on our own unit files
        [SYSTEMD_ANALYZE, "verify", *(f"./{unit}" for unit in UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr
    web = (DEPLOY / "systemd" / "textwire-web@.service").read_text(encoding="utf-8")
    worker = (DEPLOY / "systemd" / "textwire-worker@.service").read_text(encoding="utf-8")
    assert "--role web" in web
    assert "--role worker" in worker
    assert all("textwire-migrate.service" in unit_lines(u, "Wants") for u in UNITS[1:])


def unit_lines(unit: str, key: str) -> list[str]:
    """The values of `key=` in a unit file, each name on its own."""
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    return [
        name
        for line in text.splitlines()
        if line.startswith(f"{key}=")
        for name in line[len(key) + 1 :].split()
    ]


@pytest.mark.parametrize("unit", ["textwire-web@.service", "textwire-worker@.service"])
def test_restarting_the_migration_unit_leaves_web_and_workers_running(unit: str) -> None:
    """README: Upgrading, and the migrate unit's own comment, say: `systemctl restart
    textwire-migrate`, then the workers, then the web processes, one at a time. With
    `Requires=textwire-migrate.service` that restart restarted every web and worker unit at once
    (systemd.unit(5): a unit is stopped or restarted with one it requires that is explicitly
    stopped or restarted): no web process took Twilio's webhooks while the migration ran, and the
    texts of that window were lost. `Wants=` with `After=` still starts the migration first, and
    `serve` itself refuses a schema that is behind (exit 2, not restarted)."""
    assert "textwire-migrate.service" in unit_lines(unit, "After")
    assert "textwire-migrate.service" in unit_lines(unit, "Wants")
    for key in ("Requires", "BindsTo", "PartOf", "Requisite"):
        assert "textwire-migrate.service" not in unit_lines(unit, key), key


def env_example() -> dict[str, str]:
    lines = (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {pair[0]: pair[1] for pair in pairs}


def test_the_env_example_names_every_secret_and_fills_none() -> None:
    env = env_example()
    assert set(SECRETS) <= set(env)
    assert all(value == "" for value in env.values())


def test_the_env_example_as_shipped_starts_with_the_defaults() -> None:
    """Its empty lines are not set (TEXTWIRE_DATABASE_URL= stopped start-up: database.url '')."""
    env = env_example()
    assert load_config(ROOT / "config.toml", env=env) == load_config(ROOT / "config.toml", env={})


@pytest.mark.parametrize("name", sorted(k for k in env_example() if k.startswith("TEXTWIRE_")))
def test_each_name_in_the_env_example_is_a_setting(name: str) -> None:
    error = ""
    try:
        load_config(ROOT / "config.toml", env={name: "x"})
    except ConfigError as exc:  # a value "x" may be refused; the name must not be
        error = str(exc)
    assert "unknown setting" not in error, error


COMPOSE_VARIABLE = re.compile(r"\$\{(TEXTWIRE_[A-Z_]+)")


def test_the_compose_files_own_variables_do_not_stop_textwire() -> None:
    """`TEXTWIRE_PORT`, `TEXTWIRE_IMAGE` and `TEXTWIRE_ENV_FILE` (README: Compose) are exported in
    the shell that runs compose, or kept in the one env file compose and the containers both read:
    every textwire command in that shell, or every container, stopped on them as unknown settings.
    They are the kit's own, not config keys: the server in the container keeps port 8080, which
    TEXTWIRE_PORT publishes on the host."""
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    names = set(COMPOSE_VARIABLE.findall(compose))
    assert names == {"TEXTWIRE_PORT", "TEXTWIRE_IMAGE", "TEXTWIRE_ENV_FILE"}
    env = {"TEXTWIRE_PORT": "9000", "TEXTWIRE_IMAGE": "textwire:1.2", "TEXTWIRE_ENV_FILE": "prod.env"}
    assert set(env) == names
    assert load_config(ROOT / "config.toml", env=env) == load_config(ROOT / "config.toml", env={})
    # nor are they offered for a mistyped setting
    with pytest.raises(ConfigError) as exc:
        load_config(ROOT / "config.toml", env={"TEXTWIRE_PROT": "9000"})
    assert "did you mean TEXTWIRE_PORT" not in str(exc.value)


def test_the_readmes_docker_run_gives_the_server_as_long_to_stop_as_compose_and_the_units() -> None:
    """README: Docker's `docker run -d` had no `--stop-timeout`: `docker stop` (and a host's
    shutdown) killed the server 10 s after SIGTERM, the drain's own 10 s, so a stop that then
    waited on the database or a send was cut off (exit 137) before `server.stop_seconds` and its
    `app.stop_timed_out`. It allows what compose's stop_grace_period and the units'
    TimeoutStopSec allow, and those cover the drain and the default stop_seconds."""
    from bot.app.serve import GRACE_SECONDS

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    grace = compose["x-textwire"]["stop_grace_period"]
    assert grace.endswith("s")
    seconds = int(grace[:-1])
    assert seconds >= GRACE_SECONDS + load_config(ROOT / "config.toml", env={}).server.stop_seconds
    for unit in ("textwire-web@.service", "textwire-worker@.service"):
        assert unit_lines(unit, "TimeoutStopSec") == [str(seconds)]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runs = re.findall(r"^docker run -d .*$", readme, flags=re.MULTILINE)
    assert runs
    assert all(f"--stop-timeout {seconds} " in run for run in runs), runs
    production = readme[readme.index("Or run the container") :]
    assert f"`--stop-timeout {seconds}`" in production[: production.index("\n\n")]


def test_the_proxies_reach_the_web_ports_of_the_units() -> None:
    caddy = (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    nginx = (DEPLOY / "nginx" / "textwire.conf").read_text(encoding="utf-8")
    for port in ("8080", "8081"):
        assert f"127.0.0.1:{port}" in caddy
        assert f"127.0.0.1:{port}" in nginx
    assert "client_max_body_size 64k" in nginx


NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
LINK_SECRETS = ("SIGNATURE0123", "ONETIMETOKEN4567", "OAUTHCODE89", "OAUTHSTATE10")


def _until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll `predicate` until it holds (a process started beside the test has no hook to wait on)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {within} s"
        time.sleep(0.05)


@pytest.mark.skipif(NGINX is None, reason="nginx is missing: apt-get install nginx")
def test_nginx_logs_requests_without_the_links_secrets(tmp_path: Path) -> None:
    """deploy/nginx/textwire.conf run by a real nginx (its certificate, port and log file moved
    here): a receipts link's signature, the X link's one-time token and X's code and state on the
    callback reach no line of its access log, which still names each request. nginx's default
    format logged each request line whole, so anyone reading the log could open the link."""
    import http.client
    import ssl

    from tests.certs import self_signed
    from tests.ports import free_port

    assert NGINX is not None
    cert, key = self_signed(tmp_path)
    port, log = free_port(), tmp_path / "access.log"
    conf = (DEPLOY / "nginx" / "textwire.conf").read_text(encoding="utf-8")
    for shipped, here in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/letsencrypt/live/sms.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/sms.example.com/privkey.pem", str(key)),
        ("/var/log/nginx/textwire.access.log", str(log)),
    ):
        assert shipped in conf
        conf = conf.replace(shipped, here)
    (tmp_path / "textwire.conf").write_text(conf, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n    access_log off;\n"
        + "".join(
            f"    {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {tmp_path}/textwire.conf;\n}}\n",
        encoding="utf-8",
    )
    trusted = ssl.create_default_context(cafile=str(cert))

    def get(path: str) -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=trusted)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        finally:
            conn.close()

    def answers() -> bool:
        try:
            get("/healthz")
        except OSError:
            assert nginx.poll() is None, (tmp_path / "nginx.out").read_text()
            return False
        return True

    paths = (
        f"/rooms/7/receipts?exp=1999999999&sig={LINK_SECRETS[0]}",
        f"/x/link/{LINK_SECRETS[1]}",
        f"/x/callback?code={LINK_SECRETS[2]}&state={LINK_SECRETS[3]}",
    )
    with (tmp_path / "nginx.out").open("wb") as out:
        nginx = subprocess.Popen(  # noqa: S603 - nginx on our own configuration
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _until(answers)
        for path in paths:  # the web units are not running here: nginx answers 502, and logs it
            get(path)
        _until(lambda: log.is_file() and len(log.read_text().splitlines()) >= 1 + len(paths))
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if any(secret in line for secret in LINK_SECRETS)], lines
    assert '"GET /rooms/7/receipts"' in lines[1]
    assert '"GET /x/link/***"' in lines[2]
    assert '"GET /x/callback"' in lines[3]


def kubernetes() -> list[dict[str, Any]]:
    text = (DEPLOY / "kubernetes" / "textwire.yaml").read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def pod_specs() -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in kubernetes()
        if doc["kind"] != "Service"
    }


def test_the_kubernetes_pods_fit_the_image_and_the_server() -> None:
    """deploy/kubernetes: the pods run as the image's user on a read-only root with /data and
    /tmp writable, probe the health endpoints on the port the server listens on (readiness through
    the image's health check, which reaches /readyz on loopback: the kubelet's own request gets
    403), and are given as long to stop as compose and the units allow, plus the preStop pause."""
    from bot.app.serve import GRACE_SECONDS

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE)[0]
    stop = load_config(ROOT / "config.toml", env={}).server.stop_seconds
    specs = pod_specs()
    assert set(specs) == {"textwire-migrate", "textwire-web", "textwire-worker"}
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsUser"] == int(uid)
        assert spec["securityContext"]["runAsGroup"] == int(gid)
        assert spec["enableServiceLinks"] is False
        (container,) = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/data", "/tmp"} <= mounts, name  # noqa: S108 - the pod's emptyDir mounts
        assert container["envFrom"] == [{"secretRef": {"name": "textwire"}}]
        if name == "textwire-migrate":
            assert container["args"] == ["textwire", "migrate"]
            continue
        role = name.removeprefix("textwire-")
        assert container["args"] == ["textwire", "serve", "--role", role]
        assert container["ports"] == [{"name": "http", "containerPort": 8080}]
        assert load_config(ROOT / "config.toml", env={}).server.port == 8080
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
        # the start-up wait for the database (30 s) fits in the start-up probe's allowance
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] > 30 + 30
        ready = container["readinessProbe"]
        assert ready["exec"]["command"] == ["python", "-m", "bot.app.healthcheck", "--ready"]
        assert ready["timeoutSeconds"] > 4.5  # the health check's own wait for /readyz
        pause = 0
        if "lifecycle" in container:
            pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        assert spec["terminationGracePeriodSeconds"] >= pause + GRACE_SECONDS + stop
    web = specs["textwire-web"]["containers"][0]
    assert web["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    (service,) = (doc for doc in kubernetes() if doc["kind"] == "Service")
    assert service["spec"]["selector"] == {"app": "textwire", "role": "web"}
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_images_health_check_reaches_readyz_on_loopback_in_a_pod() -> None:
    """The readiness probe's command, with the pod's environment (TEXTWIRE_SERVER_HOST=0.0.0.0
    from the image, the metrics token from the Secret), asks loopback with the token."""
    from bot.app import healthcheck

    env = {"TEXTWIRE_SERVER_HOST": "0.0.0.0", "TEXTWIRE_SERVER_METRICS_TOKEN": "t0k"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.environ", env)
        request = healthcheck._probe("/readyz")
    assert request.full_url == "http://127.0.0.1:8080/readyz"
    assert request.get_header("Authorization") == "Bearer t0k"


def image_env() -> dict[str, str]:
    """The TEXTWIRE_* variables the Dockerfile's ENV lines set in the image."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env = {}
    for line in dockerfile.splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line.removeprefix("ENV ")):
                name, _, value = word.partition("=")
                if name.startswith("TEXTWIRE_"):
                    env[name] = value
    return env


def test_the_images_data_dir_moves_the_database_and_media_with_it() -> None:
    """README: setting server.data_dir moves everything the server keeps. The image set the
    database's URL and the media folder to /data as well, so `-e TEXTWIRE_SERVER_DATA_DIR=/srv/tw
    -v vol:/srv/tw` put the keys on that volume and the database and photos in the anonymous
    volume of /data, gone with the container."""
    env = image_env()
    assert env["TEXTWIRE_SERVER_DATA_DIR"] == "/data"
    config = load_config(ROOT / "config.toml", env=env)
    assert config.database.url == "sqlite:////data/textwire.db"
    assert config.media.local_dir == "/data/media"
    moved = load_config(ROOT / "config.toml", env={**env, "TEXTWIRE_SERVER_DATA_DIR": "/srv/tw"})
    assert moved.database.url == "sqlite:////srv/tw/textwire.db"
    assert moved.media.local_dir == "/srv/tw/media"
