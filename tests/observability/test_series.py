"""Every series docs/operations.md lists ("Every series") is on /metrics from a process's start.

The table is the one list: a fresh process is scraped (a subprocess, so that nothing the suite did
before has created a series), and every series of the table must be there, with a sample unless
the table says it appears only with its first occurrence; every series of the project's own
(``messaging_*``, ``orders_*``) that /metrics exports must be in the table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from project.messaging import metrics
from project.messaging.contract.events import registered_types
from project.messaging.inbox.consumer import Outcome
from project.messaging.registry.routing import all_subscriptions
from tests.conftest import REPO, test_database_env

# The scraped process reads the test database (only reads: the test's open transaction is no bother).
pytestmark = pytest.mark.django_db

OPERATIONS_DOC = REPO / "docs" / "operations.md"
OWN_PREFIXES = ("messaging_", "orders_")

SCRAPE_A_FRESH_PROCESS = """
import sys
import django
django.setup()
from django.test import Client
response = Client().get("/metrics")
assert response.status_code == 200, response.status_code
sys.stdout.write(response.content.decode())
"""


@dataclass(frozen=True)
class DocumentedSeries:
    name: str  # as exposed: counters with their _total
    type: str
    labels: frozenset[str]
    from_the_start: bool  # "no: ..." in the table: from its first occurrence only


def documented_series() -> list[DocumentedSeries]:
    text = OPERATIONS_DOC.read_text()
    section = text.split("### Every series", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        name, kind, labels, start = cells
        rows.append(
            DocumentedSeries(
                name=name.strip("`"),
                type=kind,
                labels=frozenset(re.findall(r"`(\w+)`(?:\s*\([^)]*\))?(?=,|$)", labels)),
                from_the_start=not start.startswith("no"),
            )
        )
    assert len(rows) >= 20, "the table of docs/operations.md, 'Every series', was not found"
    return rows


def scrape_a_fresh_process(tmp_path: Path, *, multiprocess: bool) -> dict[str, Metric]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **test_database_env(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
        (tmp_path / "prometheus").mkdir()
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", SCRAPE_A_FRESH_PROCESS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {exposed_name(family): family for family in text_string_to_metric_families(done.stdout)}


def exposed_name(family: Metric) -> str:
    return f"{family.name}_total" if family.type == "counter" else family.name


def label_values(family: Metric, label: str) -> set[str]:
    return {sample.labels[label] for sample in family.samples if label in sample.labels}


@pytest.fixture
def fresh_scrape(django_db_setup: None, tmp_path: Path) -> dict[str, Metric]:
    return scrape_a_fresh_process(tmp_path, multiprocess=False)


def test_every_documented_series_is_exported_by_a_fresh_process(fresh_scrape: dict[str, Metric]) -> None:
    for series in documented_series():
        family = fresh_scrape.get(series.name)
        assert family is not None, f"{series.name} is documented but not exported"
        assert family.type == series.type, f"{series.name} is a {family.type}, documented as a {series.type}"
        if series.from_the_start:
            assert family.samples, f"{series.name} has no sample in a fresh process"
            for sample in family.samples:
                sample_labels = set(sample.labels) - {"le"}
                assert sample_labels == series.labels, f"{series.name} has labels {sample_labels}"


def test_every_series_of_the_project_is_documented(fresh_scrape: dict[str, Metric]) -> None:
    documented = {series.name for series in documented_series()}
    undocumented = sorted(
        name
        for name in fresh_scrape
        if name.startswith(OWN_PREFIXES) and not name.endswith("_created") and name not in documented
    )  # (_created: when prometheus_client created a counter or histogram, beside each one)
    assert undocumented == [], f"exported but missing from docs/operations.md, 'Every series': {undocumented}"


def test_series_are_at_zero_for_every_message_type_handler_and_queue(fresh_scrape: dict[str, Metric]) -> None:
    handlers = {sub.handler_name for sub in all_subscriptions()}
    queues = {sub.queue for sub in all_subscriptions()}
    assert "testapp.add_to_tally" in handlers  # the registry is the one the scraped process has
    assert label_values(fresh_scrape["messaging_events_published_total"], "event_type") >= set(registered_types())
    assert label_values(fresh_scrape["messaging_deliveries_sent_total"], "queue") >= queues
    for name in (
        "messaging_deliveries_retried_total",
        "messaging_handler_seconds",
        "messaging_end_to_end_seconds",
        "messaging_dead_letters_open",
    ):
        assert label_values(fresh_scrape[name], "handler") >= handlers, name
    handled = fresh_scrape["messaging_deliveries_handled_total"]
    pairs = {(s.labels["handler"], s.labels["outcome"]) for s in handled.samples if s.name.endswith("_total")}
    assert pairs >= {(handler, outcome.value) for handler in handlers for outcome in Outcome}
    assert label_values(fresh_scrape["orders_saga_duration_seconds"], "outcome") == {"confirmed", "failed", "cancelled"}
    # Nothing happened in that process: every counter of the project's own reads 0.
    for name, family in fresh_scrape.items():
        if name.startswith(OWN_PREFIXES) and family.type == "counter":  # _created: gauges
            assert {s.value for s in family.samples if s.name.endswith("_total")} <= {0.0}, name
    assert label_values(fresh_scrape["django_db_execute_total"], "alias") == set(settings.DATABASES)


def test_the_handled_outcomes_are_the_consumers_outcomes() -> None:
    assert set(metrics.HANDLED_OUTCOMES) == {outcome.value for outcome in Outcome}


def test_a_fresh_process_exports_the_same_series_in_multiprocess_mode(django_db_setup: None, tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (bin/run, gunicorn) /metrics reads what every process wrote:
    the series at 0 must have been written there too."""
    scraped = scrape_a_fresh_process(tmp_path, multiprocess=True)
    for series in documented_series():
        if series.from_the_start:
            assert series.name in scraped, f"{series.name} is missing in multiprocess mode"
            assert scraped[series.name].samples, f"{series.name} has no sample in multiprocess mode"
