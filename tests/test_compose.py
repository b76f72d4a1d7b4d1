"""docker-compose.yml and the Procfile run the same processes (one worker per queue of stockhub.queues, beat
on the database scheduler, Flower behind a login), so the container stack and `make up` never drift apart."""

from __future__ import annotations

import shlex
import subprocess
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from honcho.environ import parse_procfile

from stockhub.config import check_broker_url, check_database_url, check_redis_url
from stockhub.queues import Queue

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
# Parsed by honcho itself, exactly as `make up` reads it.
PROCFILE: dict[str, str] = dict(parse_procfile((ROOT / "Procfile").read_text()).processes)

SERVERS = {"postgres", "redis"}
ONE_SHOT = {"migrate"}
APP_SERVICES = {name for name in SERVICES if name not in SERVERS | ONE_SHOT}
WORKERS = {f"worker-{queue}": queue for queue in Queue}


def compose_argv(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def procfile_argv(process: str) -> list[str]:
    """The program a Procfile line runs, past the `exec python -m stockhub.preflight ... --` launcher."""
    argv = shlex.split(PROCFILE[process])
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def option(argv: list[str], *names: str) -> list[str]:
    """Every value given to any of `names` (as `-Q x`, `--queues x` or `--queues=x`)."""
    values = []
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name:
                values.append(argv[index + 1])
            elif arg.startswith(f"{name}="):
                values.append(arg.split("=", 1)[1])
    return values


def test_compose_defines_the_servers_web_a_worker_per_queue_beat_and_flower():
    assert {"postgres", "redis", "web", "beat", "flower", *WORKERS} <= set(SERVICES)


@pytest.mark.parametrize("service", sorted(WORKERS))
def test_each_compose_worker_consumes_exactly_its_own_queue(service):
    argv = compose_argv(service)
    assert argv[:4] == ["celery", "-A", "celery_app", "worker"]
    assert option(argv, "-Q", "--queues") == [str(WORKERS[service])]
    assert option(argv, "-n", "--hostname") == [f"{WORKERS[service]}@%h"]


def test_every_worker_in_either_file_serves_a_queue_defined_in_stockhub_queues():
    compose_queues = {q for name in SERVICES if "worker" in name for q in option(compose_argv(name), "-Q")}
    procfile_queues = {q for name in PROCFILE if "worker" in name for q in option(procfile_argv(name), "-Q")}
    assert compose_queues == procfile_queues == {str(queue) for queue in Queue}


def test_the_procfile_runs_the_same_processes_as_compose():
    # The Procfile's redis is the embedded Redis (compose has a real one); `make up` migrates before honcho.
    assert set(PROCFILE) - {"redis"} == {name.replace("-", "_") for name in APP_SERVICES}


@pytest.mark.parametrize("service", sorted([*WORKERS, "beat"]))
def test_procfile_and_compose_start_workers_and_beat_with_identical_options(service):
    assert procfile_argv(service.replace("-", "_")) == compose_argv(service)


def test_beat_uses_the_django_database_scheduler():
    for argv in (compose_argv("beat"), procfile_argv("beat")):
        assert argv[:4] == ["celery", "-A", "celery_app", "beat"]
        (scheduler,) = option(argv, "-S", "--scheduler")
        resolved = (
            entry_points(group="celery.beat_schedulers")[scheduler].value
            if "." not in scheduler
            else scheduler
        )
        assert resolved.replace(":", ".") == "django_celery_beat.schedulers.DatabaseScheduler"


def test_compose_flower_refuses_to_start_without_a_login():
    argv = compose_argv("flower")
    script = argv[argv.index("-c") + 1].replace("$$", "$")  # compose's escape for a literal $
    assert "--basic-auth=" in script
    result = subprocess.run(
        ["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "FLOWER_BASIC_AUTH" in result.stderr


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({"FLOWER_BASIC_AUTH": "ops:s3cret"}, "ops:s3cret"), ({}, "admin:generated")],
)
def test_procfile_flower_logs_in_with_flower_basic_auth_or_the_generated_password(
    environment, expected, tmp_path
):
    (basic_auth,) = option(procfile_argv("flower"), "--basic-auth")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "flower_credentials").write_text("admin:generated\n")
    # The same shell expansion honcho's sh applies to the Procfile line.
    result = subprocess.run(
        ["sh", "-c", f'printf %s "{basic_auth}"'],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
    )
    assert result.stdout == expected


def test_flower_and_web_listen_only_on_this_machine():
    assert option(procfile_argv("flower"), "--address") == ["127.0.0.1"]
    assert option(procfile_argv("web"), "--host") == ["127.0.0.1"]
    for service in ("web", "flower"):
        assert all(port.startswith("127.0.0.1:") for port in SERVICES[service]["ports"])


def test_all_app_services_run_one_image_built_from_the_dockerfile():
    builds = {str(SERVICES[name]["build"]) for name in APP_SERVICES | ONE_SHOT}
    images = {SERVICES[name]["image"] for name in APP_SERVICES | ONE_SHOT}
    assert builds == {"."} and len(images) == 1
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "pip install -r requirements.txt" in dockerfile


def test_every_long_running_service_has_a_healthcheck():
    for name in SERVICES.keys() - ONE_SHOT:
        assert SERVICES[name]["healthcheck"]["test"], name


def test_servers_keep_their_data_and_app_services_share_the_var_volume():
    assert SERVICES["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert SERVICES["redis"]["volumes"] == ["redis-data:/data"]
    for name in APP_SERVICES | ONE_SHOT:
        assert "app-var:/app/var" in SERVICES[name]["volumes"], name
    assert set(COMPOSE["volumes"]) == {"postgres-data", "redis-data", "app-var"}


def test_servers_web_and_workers_have_healthchecks_that_probe_the_right_thing():
    assert "pg_isready" in str(SERVICES["postgres"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert "http://127.0.0.1:8000/healthz'" in str(SERVICES["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:5555/healthcheck" in str(SERVICES["flower"]["healthcheck"]["test"])
    assert "check_beat" in str(SERVICES["beat"]["healthcheck"]["test"])
    for service, queue in WORKERS.items():
        probe = shlex.split(SERVICES[service]["healthcheck"]["test"][-1])
        # The node the probe pings is the one the worker names itself: -n <queue>@%h, %h being $HOSTNAME.
        assert probe[:5] == ["celery", "-A", "celery_app", "inspect", "ping"]
        assert option(probe, "-d") == [f"{queue}@$$HOSTNAME"]


def test_app_services_start_after_healthy_servers_and_finished_migrations():
    assert set(SERVICES["migrate"]["depends_on"]) == SERVERS
    assert "migrate" in " ".join(compose_argv("migrate"))
    for name in APP_SERVICES:
        depends_on = SERVICES[name]["depends_on"]
        assert {depends_on[server]["condition"] for server in SERVERS} == {"service_healthy"}
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_app_services_use_the_compose_postgres_and_redis_through_valid_urls():
    for name in APP_SERVICES | ONE_SHOT:
        env = SERVICES[name]["environment"]
        urls = {
            check_database_url(env["DATABASE_URL"]): "postgres",
            check_broker_url("CELERY_BROKER_URL", env["CELERY_BROKER_URL"]): "redis",
            check_redis_url(env["REDIS_URL"]): "redis",
        }
        assert {url: urlsplit(url).hostname for url in urls} == urls


def test_the_web_healthcheck_url_answers_200(client):
    (probe,) = [arg for arg in SERVICES["web"]["healthcheck"]["test"] if "urlopen" in arg]
    path = probe.split("'")[1].removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_the_beat_healthcheck_fails_until_beat_has_sent_its_heartbeat_and_passes_after():
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from stockhub.health import HEARTBEAT_TASK

    test = SERVICES["beat"]["healthcheck"]["test"]
    code = test[test.index("-c") + 1]
    assert test[1:4] == ["python", "manage.py", "shell"]

    def run() -> int:
        try:
            exec(code, {})
        except SystemExit as exit:
            return exit.code
        return 0

    PeriodicTask.objects.filter(task=HEARTBEAT_TASK).update(last_run_at=None)
    assert run() == 1
    PeriodicTask.objects.filter(task=HEARTBEAT_TASK).update(last_run_at=timezone.now())
    assert run() == 0
