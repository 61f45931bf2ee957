"""docker/compose.yaml read as Docker Compose would (Docker is not on these machines): the start order, the health
checks, restart policies, the proxy with TLS, secrets from the environment, and every GOVFLOW_* setting the code
reads passed to the processes that read it."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
GOVFLOW_SERVICES = ("init", "web", "scheduler")
# settings that only one kind of process reads; every other GOVFLOW_* setting reaches init, web and schedulers
ONLY = {"GOVFLOW_BIND": "web", "GOVFLOW_WORKERS": "web", "GOVFLOW_THREADS": "web",
        "GOVFLOW_SCHEDULER_METRICS_PORT": "scheduler"}
RETIRED = {"GOVFLOW_BEHIND_PROXY"}  # named by the code only to refuse it (replaced by GOVFLOW_TRUSTED_PROXIES)
SECRETS = ("GOVFLOW_SECRET_KEY", "GOVFLOW_SMTP_PASSWORD", "GOVFLOW_METRICS_TOKEN", "GOVFLOW_OIDC_CLIENT_SECRET")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())  # merge keys (<<) resolved as Compose does


def settings_read_by_the_code() -> set[str]:
    found = set()
    for folder in ("engine", "web", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"\bGOVFLOW_[A-Z0-9_]+\b", path.read_text()))
    return found


def test_the_scan_finds_the_settings_it_must():
    found = settings_read_by_the_code()
    assert {"GOVFLOW_DATABASE_URL", "GOVFLOW_SMTP_STARTTLS", "GOVFLOW_SECURE_COOKIES", "GOVFLOW_METRICS_TOKEN",
            "GOVFLOW_PROCESSES_DIR"} <= found


def test_every_setting_the_code_reads_reaches_the_processes_that_read_it(compose):
    services = compose["services"]
    for name in sorted(settings_read_by_the_code()):
        for service in GOVFLOW_SERVICES:
            if name in RETIRED:
                assert name not in services[service]["environment"], f"{name} is refused by the code"
                continue
            passed = name in services[service]["environment"]
            if ONLY.get(name, service) == service:
                assert passed, f"{name} is read by the code but not passed to {service}"


def test_secrets_come_from_the_environment_never_the_file(compose):
    env = compose["services"]["web"]["environment"]
    for name in SECRETS:
        assert re.fullmatch(r"\$\{%s(:?[-?][^}]*)?\}" % name, env[name]), f"{name}: {env[name]}"
    assert "${GOVFLOW_SECRET_KEY:?" in env["GOVFLOW_SECRET_KEY"]  # refuses to start without one
    assert re.fullmatch(r"postgresql\+psycopg://govflow:\$\{POSTGRES_PASSWORD:\?[^}]*\}@db:5432/govflow",
                        env["GOVFLOW_DATABASE_URL"])
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_start_order(compose):
    services = compose["services"]
    assert services["init"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "scheduler"):
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
    assert services["proxy"]["depends_on"] == {"web": {"condition": "service_healthy"}}
    assert services["init"]["command"] == ["govflow", "init"] and services["init"]["restart"] == "no"


def test_health_checks_use_readiness_and_the_heartbeat(compose):
    services = compose["services"]
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    web = services["web"]["healthcheck"]["test"]
    assert web[:2] == ["CMD", "python"] and "http://127.0.0.1:8000/readyz" in web[-1]
    assert services["scheduler"]["healthcheck"]["test"] == ["CMD", "govflow", "doctor", "--local-scheduler"]
    for name in ("db", "web", "scheduler"):
        check = services[name]["healthcheck"]
        assert check["interval"] and check["timeout"] and check["retries"] >= 3


def test_replicas_behind_a_tls_proxy_with_restart_policies(compose):
    services = compose["services"]
    web = services["web"]
    assert web["deploy"]["replicas"] >= 2 and "ports" not in web and web["expose"] == ["8000"]
    assert web["command"] == ["gunicorn", "-c", "python:web.gunicorn_conf", "web.wsgi:app"]
    assert web["environment"]["GOVFLOW_SECURE_COOKIES"] == "1" and "GOVFLOW_BEHIND_PROXY" not in web["environment"]
    # the web believes X-Forwarded-* from the proxy's address only, and the proxy has that address
    trusted = web["environment"]["GOVFLOW_TRUSTED_PROXIES"]
    assert trusted == "${GOVFLOW_PROXY_ADDRESS:-172.28.0.10}"
    assert services["proxy"]["networks"]["default"]["ipv4_address"] == trusted
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address("172.28.0.10") in ipaddress.ip_network(subnet.split(":-")[1].rstrip("}"))
    assert services["scheduler"]["deploy"]["replicas"] >= 2
    proxy = services["proxy"]
    assert proxy["image"].split(":")[0] == "caddy" and "443:443" in proxy["ports"]
    for name in ("db", "web", "scheduler", "proxy"):
        assert services[name]["restart"] == "unless-stopped", name
    caddyfile = (DOCKER / "Caddyfile").read_text()
    assert "tls {$GOVFLOW_TLS}" in caddyfile and proxy["environment"]["GOVFLOW_TLS"] == "${GOVFLOW_TLS:-internal}"
    assert re.search(r"dynamic a web 8000", caddyfile) and "lb_policy round_robin" in caddyfile
    assert "respond /readyz 404" in caddyfile and "respond /metrics 404" in caddyfile
    mounted = {v.split(":")[0] for v in proxy["volumes"]}
    assert "./Caddyfile" in mounted and (DOCKER / "Caddyfile").is_file()


def test_the_image_installs_the_lock_file_and_govflow_as_a_package():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert re.search(r"pip install --no-cache-dir --no-deps \.\s", dockerfile) and " -e " not in dockerfile
    assert "GOVFLOW_PROCESSES_DIR=/app/processes" in dockerfile and "GOVFLOW_FORMS_DIR=/app/forms" in dockerfile
    assert 'CMD ["gunicorn", "-c", "python:web.gunicorn_conf", "web.wsgi:app"]' in dockerfile
