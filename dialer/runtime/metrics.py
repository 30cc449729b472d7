"""Prometheus metrics (spec/api.md), on a registry of the service's own.

A registry per service (not the global default) keeps several services in
one process (tests) from colliding.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from dialer.runtime.floor import AGENT_STATES

__all__ = ["ABANDON_WINDOWS", "AGENT_STATES", "Metrics"]

# The windows of dialer_abandon_rate (spec/api.md).
ABANDON_WINDOWS = ("24h", "30d", "month")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter(
            "dialer_calls", "Dial attempts ended, by outcome.", ["campaign", "outcome"], registry=r
        )
        self.abandoned = Counter(
            "dialer_abandoned_calls",
            "Answered calls not bridged in time.",
            ["campaign"],
            registry=r,
        )
        self.abandon_rate = Gauge(
            "dialer_abandon_rate",
            "Abandoned / human-answered calls over the window, from the call records.",
            ["campaign", "window"],
            registry=r,
        )
        self.agents = Gauge("dialer_agents", "Agents by state.", ["campaign", "state"], registry=r)
        self.lines_in_flight = Gauge(
            "dialer_lines_in_flight",
            "Calls placed and not yet with an agent or ended.",
            ["campaign"],
            registry=r,
        )
        self.dial_level = Gauge(
            "dialer_dial_level",
            "Lines per ready agent the pacer aims at.",
            ["campaign"],
            registry=r,
        )
        self.connect_delay = Histogram(
            "dialer_connect_delay_seconds",
            "From answer (or AMD verdict) to bridge.",
            ["campaign"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=r,
        )
        self.bridge_latency = Histogram(
            "dialer_bridge_latency_seconds",
            "From the event that made a bridge possible (an answer, an agent freed)"
            " reaching the service to the bridge order reaching telephony.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        self.loop_lag = Histogram(
            "dialer_event_loop_lag_seconds",
            "How late the event loop woke a 50 ms sleeper (blocking work shows here).",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )

    def forget_campaign(self, campaign_id: str) -> None:
        """A deleted campaign's gauges go: a dashboard must not show its last
        figures for ever. (Counters stay until the process restarts, as
        Prometheus expects of counters.)"""
        series: list[tuple[Gauge, tuple[str, ...]]] = [
            *((self.agents, (campaign_id, state)) for state in AGENT_STATES),
            *((self.abandon_rate, (campaign_id, w)) for w in ABANDON_WINDOWS),
            (self.lines_in_flight, (campaign_id,)),
            (self.dial_level, (campaign_id,)),
        ]
        for gauge, labels in series:
            gauge.remove(*labels)  # a series never set is no error

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
