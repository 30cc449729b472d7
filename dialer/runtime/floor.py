"""The floor's live figures across the service processes on one database.

Each process knows only its own core: the agents whose softphones it holds
(or held: a softphone that went away leaves its agent paused there) and the
lines it placed. With several processes behind a load balancer, a stats
read answered by one showed that process's half of the floor, and an agent
connected to the other looked logged out. So every process publishes its
figures (:class:`ProcessFigures`, a few seconds old at most) beside its
heartbeat, and a read on any process merges the live ones' with its own.

Pure: no I/O here; the service reads and writes the published text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AGENT_STATES",
    "AgentFigure",
    "CampaignFigure",
    "FloorCampaign",
    "ProcessFigures",
    "counted_here",
    "floor_campaign",
    "merge_agents",
]

log = logging.getLogger(__name__)

#: The states an agent is counted in, as the stats name them.
AGENT_STATES = ("ready", "paused", "on_call", "wrap_up")
_BUSY = frozenset({"on_call", "wrap_up"})


@dataclass(frozen=True, slots=True)
class AgentFigure:
    """A logged-in agent as one process's core sees it."""

    state: str  # one of AGENT_STATES
    campaign_ids: tuple[str, ...]
    connected: bool  # its softphone's socket is open on that process
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class CampaignFigure:
    """A campaign's lines as one process's core sees them."""

    lines_in_flight: int = 0
    dial_level: float = 0.0
    capped: bool = False


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    campaigns: Mapping[str, CampaignFigure] = field(default_factory=dict)
    agents: Mapping[str, AgentFigure] = field(default_factory=dict)

    def to_json(self) -> str:
        # Sorted keys: an unchanged floor gives the same text, so a process
        # can skip writing it again.
        return json.dumps(
            {
                "campaigns": {
                    cid: [c.lines_in_flight, round(c.dial_level, 3), c.capped]
                    for cid, c in self.campaigns.items()
                },
                "agents": {
                    aid: [a.state, list(a.campaign_ids), a.connected, a.call_id]
                    for aid, a in self.agents.items()
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> ProcessFigures:
        """Parse published figures; unreadable ones (a newer or older writer,
        a torn value) count as an empty process rather than fail a read."""
        if not text:
            return cls()
        try:
            raw: Any = json.loads(text)
            campaigns = {
                str(cid): CampaignFigure(int(v[0]), float(v[1]), bool(v[2]))
                for cid, v in raw["campaigns"].items()
            }
            agents = {
                str(aid): AgentFigure(
                    str(v[0]),
                    tuple(str(c) for c in v[1]),
                    bool(v[2]),
                    None if v[3] is None else str(v[3]),
                )
                for aid, v in raw["agents"].items()
            }
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            log.warning("ignoring unreadable figures of another process: %s", exc)
            return cls()
        return cls(campaigns, agents)


def _rank(figure: AgentFigure) -> int:
    # Only one process can hold an agent's open socket (the socket lease);
    # one whose socket went keeps the agent for the call it is on; anywhere
    # else the agent is only a leftover paused on a process it left.
    if figure.connected:
        return 2
    return 1 if figure.state in _BUSY else 0


def merge_agents(processes: Iterable[ProcessFigures]) -> dict[str, AgentFigure]:
    """One figure per logged-in agent: the process that holds it wins.

    Earlier processes win ties, so the caller puts its own figures first.
    """
    merged: dict[str, AgentFigure] = {}
    for figures in processes:
        for agent_id, figure in figures.agents.items():
            held = merged.get(agent_id)
            if held is None or _rank(figure) > _rank(held):
                merged[agent_id] = figure
    return merged


def counted_here(
    own_id: str, own: ProcessFigures, others: Iterable[tuple[str, ProcessFigures]]
) -> dict[str, dict[str, int]]:
    """Campaign -> state -> agents this process reports in its own gauges.

    Prometheus sums a gauge over the processes, so each agent must count on
    one only: the one :func:`merge_agents` would pick, with ties (an agent
    left paused on several processes it has left) going to the lowest
    process id, the same answer on every process.
    """
    rival: dict[str, tuple[int, str]] = {}
    for process_id, figures in others:
        for agent_id, figure in figures.agents.items():
            claim = (_rank(figure), process_id)
            best = rival.get(agent_id)
            if best is None or claim[0] > best[0] or (claim[0] == best[0] and claim[1] < best[1]):
                rival[agent_id] = claim
    counts: dict[str, dict[str, int]] = {
        cid: dict.fromkeys(AGENT_STATES, 0) for cid in own.campaigns
    }
    for agent_id, figure in own.agents.items():
        best = rival.get(agent_id)
        rank = _rank(figure)
        if best is not None and (best[0] > rank or (best[0] == rank and best[1] < own_id)):
            continue  # counted by that process
        for cid in figure.campaign_ids:
            by_state = counts.setdefault(cid, dict.fromkeys(AGENT_STATES, 0))
            if figure.state in by_state:
                by_state[figure.state] += 1
    return counts


@dataclass(frozen=True, slots=True)
class FloorCampaign:
    lines_in_flight: int
    dial_level: float
    capped: bool
    agents: dict[str, int]  # AGENT_STATES -> count
    processes: int  # processes whose figures were counted, this one included


def floor_campaign(
    campaign_id: str,
    processes: list[ProcessFigures],
    agents: Mapping[str, AgentFigure],
) -> FloorCampaign:
    """The campaign's figures over the floor; ``processes[0]`` is this one's,
    and ``agents`` is :func:`merge_agents` of them (computed once per read)."""
    counts = dict.fromkeys(AGENT_STATES, 0)
    for figure in agents.values():
        if campaign_id in figure.campaign_ids and figure.state in counts:
            counts[figure.state] += 1
    lines = 0
    capped = False
    # The level each process's pacer aims at, weighed by the agents it is
    # dialing for (ready or busy with a call); with none, this process's.
    weighed = weight = 0.0
    for figures in processes:
        c = figures.campaigns.get(campaign_id)
        if c is None:
            continue
        lines += c.lines_in_flight
        capped = capped or c.capped
        working = sum(
            1
            for a in figures.agents.values()
            if campaign_id in a.campaign_ids and a.state != "paused"
        )
        weighed += c.dial_level * working
        weight += working
    own = processes[0].campaigns.get(campaign_id) if processes else None
    if weight:
        level = weighed / weight
    elif own is not None:
        level = own.dial_level
    else:
        level = 0.0
    return FloorCampaign(lines, level, capped, counts, len(processes))
