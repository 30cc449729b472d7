"""The service under a real Prometheus, and the rules and dashboard in ops/.

`make test` starts a throwaway Prometheus (scripts/start-prometheus.sh) that
scrapes whatever targets the tests write into its file_sd directory, every
second, and evaluates ops/prometheus/dialer-rules.yml. These tests run the
real `dialer serve --demo` (its simulated floor makes calls at once), point
Prometheus at it, and read the result back through Prometheus' HTTP API.
The checks on ops/ that need no server (promtool, the dashboard's metric
names against a real /metrics) run in every test run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import served

KEY = "prometheus-test-key"
OPS = Path(__file__).resolve().parents[2] / "ops"
RULES = OPS / "prometheus" / "dialer-rules.yml"
RULE_TESTS = OPS / "prometheus" / "dialer-rules.test.yml"
DASHBOARD = OPS / "grafana" / "dialer-dashboard.json"

PROMETHEUS_URL = os.environ.get("DIALER_TEST_PROMETHEUS_URL")
PROMETHEUS_TARGETS = os.environ.get("DIALER_TEST_PROMETHEUS_TARGETS")
needs_prometheus = pytest.mark.skipif(
    not (PROMETHEUS_URL and PROMETHEUS_TARGETS),
    reason="no Prometheus: set DIALER_TEST_PROMETHEUS_URL and _TARGETS (make test does)",
)

# PromQL words that are not metric names.
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "bool", "offset", "sum", "max", "min", "avg", "count", "rate",
    "increase", "irate", "histogram_quantile", "vector", "absent", "le", "inf",
}  # fmt: skip


def _promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if found is None:
        if PROMETHEUS_URL:  # make test installed Prometheus: promtool must be there
            pytest.fail("promtool not found although a Prometheus was started for the tests")
        pytest.skip("promtool not installed (scripts/start-prometheus.sh installs it)")
    return found


def test_the_rules_load_and_their_unit_tests_pass() -> None:
    promtool = _promtool()
    for args in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        done = subprocess.run(
            [promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
        assert "SUCCESS" in done.stdout + done.stderr


def _metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (labels and strings left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values, template text
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {w for w in words if w.lower() not in _PROMQL_WORDS and not w.startswith("$")}


def _exported(metrics_text: str) -> set[str]:
    """Series names in a /metrics page, with a histogram's and a counter's base names."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
            if kind == "histogram":
                names.update(f"{name}_{part}" for part in ("bucket", "sum", "count"))
    return names


def _dashboard_exprs() -> list[str]:
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            # A template variable: label_values(metric, label).
            for key in ("definition", "query"):
                query = node.get(key)
                if isinstance(query, str) and query.startswith("label_values("):
                    exprs.append(query.removeprefix("label_values(").split(",")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return exprs


def _rule_exprs() -> tuple[set[str], list[str]]:
    """(recording rule names, every rule's expression) of dialer-rules.yml."""
    text = RULES.read_text()
    records = set(re.findall(r"^\s*- record:\s*(\S+)", text, re.M))
    exprs = []
    # An expr is on its line or, folded (>-), on the more indented lines after.
    for m in re.finditer(r"^(\s*)expr:\s*(>-|\|)?\s*(.*)$", text, re.M):
        indent, folded, rest = m.groups()
        if not folded:
            exprs.append(rest)
            continue
        body = []
        for line in text[m.end() + 1 :].splitlines():
            if line.strip() and len(line) - len(line.lstrip()) <= len(indent):
                break
            body.append(line.strip())
        exprs.append(" ".join(body))
    return records, exprs


def test_the_dashboard_and_rules_read_only_series_the_service_exports(tmp_path: Path) -> None:
    """A renamed metric leaves a dashboard panel empty and an alert silent
    without an error anywhere: check every name against a real /metrics."""
    with served(tmp_path, "serve", api_key=KEY, args=("--demo",)) as base:
        # Every metric is declared (# TYPE) from the start, labelled or not.
        text = httpx.get(f"{base}/metrics", timeout=5).text
    exported = _exported(text) | {"up"}
    records, rule_exprs = _rule_exprs()
    assert records and len(rule_exprs) > len(records)  # the parse found the rules
    dashboard = _dashboard_exprs()
    assert len(dashboard) >= 10
    for where, exprs in (("dashboard", dashboard), ("rules", rule_exprs)):
        for expr in exprs:
            unknown = _metric_names(expr) - exported - records
            assert not unknown, f"{where}: {expr!r} reads {sorted(unknown)}, not exported"
    assert {"dialer_abandon_rate", "dialer_agents", "dialer_calls_total"} <= exported


def _query(client: httpx.Client, promql: str) -> list[dict[str, Any]]:
    body = client.get("/api/v1/query", params={"query": promql}).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _until(client: httpx.Client, promql: str, ok: Any, what: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        result = _query(client, promql)
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {promql} gave {result}")
        time.sleep(0.25)


@needs_prometheus
def test_prometheus_scrapes_the_service_and_evaluates_the_rules(tmp_path: Path) -> None:
    assert PROMETHEUS_URL and PROMETHEUS_TARGETS
    run = uuid.uuid4().hex[:8]  # this test's series, whatever else is scraped
    target = Path(PROMETHEUS_TARGETS) / f"dialer-{run}.json"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"
    with (
        served(tmp_path, "serve", api_key=KEY, db_url=db_url, args=("--demo",)) as base,
        httpx.Client(base_url=PROMETHEUS_URL, timeout=5) as prom,
    ):
        campaigns = httpx.get(
            f"{base}/api/v1/campaigns", headers={"Authorization": f"Bearer {KEY}"}
        ).json()
        (campaign,) = [c["id"] for c in campaigns]
        host = base.removeprefix("http://")
        target.write_text(json.dumps([{"targets": [host], "labels": {"run": run}}]))
        try:
            _until(
                prom,
                f'up{{job="dialer",run="{run}"}} == 1',
                lambda r: len(r) == 1,
                "the service was never scraped",
            )
            # The demo floor's eight agents, all logged in, by state.
            agents = _until(
                prom,
                f'sum(dialer_agents{{run="{run}",campaign="{campaign}"}})',
                lambda r: r and float(r[0]["value"][1]) == 8,
                "the demo agents",
            )
            assert float(agents[0]["value"][1]) == 8
            calls = _until(
                prom,
                f'sum(dialer_calls_total{{run="{run}",campaign="{campaign}"}})',
                lambda r: r and float(r[0]["value"][1]) >= 1,
                "calls ended",
            )
            stats = httpx.get(
                f"{base}/api/v1/campaigns/{campaign}/stats",
                headers={"Authorization": f"Bearer {KEY}"},
            ).json()
            # Counted from the same calls: what Prometheus scraped, the records hold.
            assert float(calls[0]["value"][1]) <= stats["dialed"]
            # A recording rule evaluated on what was scraped (this campaign
            # is this test's alone: its id is new).
            recorded = _until(
                prom,
                f'campaign_state:dialer_agents:sum{{campaign="{campaign}"}}',
                lambda r: sum(float(s["value"][1]) for s in r) == 8,
                "the recording rule",
            )
            assert {s["metric"]["state"] for s in recorded} <= {
                "ready",
                "paused",
                "on_call",
                "wrap_up",
            }
            rates = _until(
                prom,
                f'campaign_window:dialer_abandon_rate:max{{campaign="{campaign}"}}',
                lambda r: len(r) >= 2,
                "the abandonment rule",
            )
            assert all(0.0 <= float(s["value"][1]) <= 1.0 for s in rates)
            assert {"24h", "30d"} <= {s["metric"]["window"] for s in rates}
            # The rules Prometheus loaded are the ones in ops/.
            groups = prom.get("/api/v1/rules").json()["data"]["groups"]
            assert {g["name"] for g in groups} == {"dialer.recording", "dialer.alerts"}
        finally:
            target.unlink(missing_ok=True)
    # Gone from discovery, the target leaves Prometheus' active targets.
    with httpx.Client(base_url=PROMETHEUS_URL, timeout=5) as prom:
        deadline = time.monotonic() + 30
        while True:
            active = prom.get("/api/v1/targets").json()["data"]["activeTargets"]
            if not any(t["labels"].get("run") == run for t in active):
                break
            assert time.monotonic() < deadline, active
            time.sleep(0.25)
