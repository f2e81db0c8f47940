"""Production settings: `check --deploy` is clean, secrets come only from the environment, and the
security defaults (rate limits, body limits, cookies, HTTPS) are what an operator gets by default.

Each test reads the settings with a production-like environment and nothing else (no DJANGO_DEBUG,
no test settings), the way a deployment starts; `check --deploy` runs in a process of its own.
"""

from __future__ import annotations

import ast
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

REPO = Path(__file__).resolve().parents[2]
SETTINGS_FILE = REPO / "project" / "settings.py"
SECRET_NAMES = ("SECRET", "PASSWORD", "TOKEN", "KEY")


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "shop.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
        "DATABASE_URL": "postgres://shop:from-the-environment@db.internal:5432/shop",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    env = production_env(tmp_path, METRICS_TOKEN=secrets.token_urlsafe(32))
    done = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_fails_on_a_weak_secret_key(tmp_path: Path) -> None:
    """The check above means something: it does fail on what it is there to catch."""
    env = production_env(tmp_path, DJANGO_SECRET_KEY="short", METRICS_TOKEN=secrets.token_urlsafe(32))
    done = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode != 0
    assert "security.W009" in done.stdout + done.stderr


def test_check_deploy_warns_that_metrics_without_a_token_are_open_to_anyone(tmp_path: Path) -> None:
    done = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert done.returncode != 0
    assert "observability.W001" in done.stdout + done.stderr
    assert "security.W" not in done.stdout + done.stderr  # the only finding


def settings_under(env: dict[str, str]) -> dict[str, Any]:
    """project/settings.py evaluated with exactly this environment, in this process (a settings
    module only reads the environment: no need for a new interpreter)."""
    with mock.patch.dict(os.environ, env, clear=True):
        return runpy.run_path(str(SETTINGS_FILE), run_name="project_settings_under_test")


def test_the_settings_refuse_to_start_without_a_secret_key_when_debug_is_off(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set"):
        settings_under(env)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set"):
        settings_under(production_env(tmp_path, DJANGO_SECRET_KEY=""))


def test_debug_mode_starts_without_a_secret_key_with_a_key_that_says_so(tmp_path: Path) -> None:
    env = production_env(tmp_path, DJANGO_DEBUG="1")
    del env["DJANGO_SECRET_KEY"]
    values = settings_under(env)
    assert values["DEBUG"] is True
    assert "insecure" in values["SECRET_KEY"]


def production_settings(tmp_path: Path, **overrides: str) -> dict[str, Any]:
    values = settings_under(production_env(tmp_path, **overrides))
    rest = values["REST_FRAMEWORK"]
    return {
        **values,
        "DATABASE_PASSWORD": values["DATABASES"]["default"].get("PASSWORD", ""),
        "THROTTLE_RATES": rest["DEFAULT_THROTTLE_RATES"],
        "NUM_PROXIES": rest["NUM_PROXIES"],
        "PARSERS": rest["DEFAULT_PARSER_CLASSES"],
        "CACHE": {k: values["CACHES"]["default"][k] for k in ("BACKEND", "LOCATION", "KEY_PREFIX")},
    }


def test_production_defaults_are_the_safe_ones(tmp_path: Path) -> None:
    values = production_settings(tmp_path)

    assert values["DEBUG"] is False
    assert (values["SECURE_SSL_REDIRECT"], values["SESSION_COOKIE_SECURE"], values["CSRF_COOKIE_SECURE"]) == (
        True,
        True,
        True,
    )
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1024 * 1024
    assert (values["API_JSON_MAX_DEPTH"], values["API_JSON_MAX_ITEMS"]) == (20, 10_000)
    assert values["PARSERS"][0] == "project.api.parsers.JSONParser"
    assert values["THROTTLE_RATES"] == {"login": "10/min", "registration": "10/hour", "order_placement": "30/min"}
    assert values["NUM_PROXIES"] == 0  # X-Forwarded-For is not trusted unless configured
    assert values["CACHE"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://redis.internal:6379/0",  # REDIS_URL: shared by every process
        "KEY_PREFIX": "shop-cache",
    }


def test_secrets_come_from_the_environment_and_are_empty_when_it_has_none(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(64)
    values = production_settings(
        tmp_path, DJANGO_SECRET_KEY=key, EMAIL_HOST_PASSWORD="mail-pw-from-env", METRICS_TOKEN="scrape-from-env"
    )
    assert (values["SECRET_KEY"], values["EMAIL_HOST_PASSWORD"], values["METRICS_TOKEN"]) == (
        key,
        "mail-pw-from-env",
        "scrape-from-env",
    )
    assert values["DATABASE_PASSWORD"] == "from-the-environment"

    bare = production_settings(tmp_path)
    assert (bare["EMAIL_HOST_PASSWORD"], bare["METRICS_TOKEN"]) == ("", "")


def test_the_rate_limits_are_set_by_the_environment(tmp_path: Path) -> None:
    values = production_settings(
        tmp_path, THROTTLE_LOGIN_RATE="5/min", THROTTLE_ORDER_PLACEMENT_RATE="100/hour", NUM_PROXIES="1"
    )
    assert values["THROTTLE_RATES"]["login"] == "5/min"
    assert values["THROTTLE_RATES"]["order_placement"] == "100/hour"
    assert values["NUM_PROXIES"] == 1


def env_reads(tree: ast.AST) -> list[tuple[str, ast.expr | None, int]]:
    """Every ``env.<cast>("NAME", default=...)`` / ``env("NAME", ...)`` in a module: (NAME, default, line)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        is_env = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env") or (
            isinstance(func, ast.Name) and func.id == "env"
        )
        if is_env and isinstance(node.args[0].value, str):
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            found.append((node.args[0].value, default, node.lineno))
    return found


def test_no_secret_setting_has_a_hard_coded_default() -> None:
    reads = env_reads(ast.parse(SETTINGS_FILE.read_text()))
    secret_reads = [(name, default, line) for name, default, line in reads if any(s in name for s in SECRET_NAMES)]
    names = {name for name, _, _ in secret_reads}
    assert {"DJANGO_SECRET_KEY", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN"} <= names
    for name, default, line in secret_reads:
        if name == "CACHE_KEY_PREFIX":  # a namespace, not a secret
            continue
        assert isinstance(default, ast.Constant) and default.value == "", f"{name} (line {line}) has a default"


def test_the_only_fallback_secret_key_is_for_debug_mode() -> None:
    source = SETTINGS_FILE.read_text()
    tree = ast.parse(source)
    literal_keys = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "SECRET_KEY" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    assert len(literal_keys) == 1
    assert "insecure" in literal_keys[0].value.value and "DEBUG" in literal_keys[0].value.value
