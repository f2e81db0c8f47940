"""The alert rules and the Grafana dashboard name only series the application exports, and are
complete (bin/check_monitoring checks the rules' syntax and behaviour with promtool)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

pytestmark = pytest.mark.django_db

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "shop.json"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
# Series the application exports start with these; `up` is Prometheus' own, one per scraped target.
APPLICATION_PREFIXES = ("messaging_", "orders_", "django_")
PROMETHEUS_OWN = {"up"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every name a PromQL expression may use for what /metrics exports (a real scrape)."""
    response = Client().get("/metrics")
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.content.decode()):
        names.update(f"{family.name}{suffix}" for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def series_in(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_strings))
    return {name for name in names if name.startswith(APPLICATION_PREFIXES) or name in PROMETHEUS_OWN}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_panels() -> list[dict[str, Any]]:
    return [panel for panel in json.loads(DASHBOARD.read_text())["panels"] if panel["type"] != "row"]


def test_every_alert_names_only_series_that_metrics_exports() -> None:
    exported = exported_names() | PROMETHEUS_OWN
    for rule in alert_rules():
        named = series_in(rule["expr"])
        assert named, f"{rule['alert']} names no series"
        assert named <= exported, f"{rule['alert']} names series /metrics does not export: {named - exported}"


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "two alerts share a name"
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_operations_guide_names_every_alert_and_only_those() -> None:
    text = OPERATIONS_DOC.read_text()
    watch = text.split("## What to watch", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"`(Shop[A-Za-z]+)`", watch))
    assert mentioned == {rule["alert"] for rule in alert_rules()}


def test_every_dashboard_panel_queries_series_that_metrics_exports() -> None:
    exported = exported_names() | PROMETHEUS_OWN
    panels = dashboard_panels()
    assert len(panels) >= 20
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            named = series_in(target["expr"])
            assert named, f"panel {panel['title']!r} queries no series"
            assert named <= exported, f"panel {panel['title']!r} queries unknown series: {named - exported}"


def test_the_dashboard_is_complete_and_its_panels_do_not_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "two panels share an id"
    taken: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells
    for panel in dashboard_panels():
        assert panel["title"] and panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_a_misspelt_series_would_be_caught() -> None:
    """The check itself: a name /metrics does not export is found in an expression."""
    named = series_in('sum by (queue) (rate(messaging_deliveries_handeld_total{queue="orders_x"}[5m]))')
    assert named == {"messaging_deliveries_handeld_total"}
    assert not named <= exported_names()
