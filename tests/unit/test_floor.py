"""The floor's figures merged over processes (dialer.runtime.floor)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dialer.runtime.floor import (
    AGENT_STATES,
    AgentFigure,
    CampaignFigure,
    ProcessFigures,
    counted_here,
    floor_campaign,
    merge_agents,
)


def _p(agents: dict[str, AgentFigure], **campaigns: CampaignFigure) -> ProcessFigures:
    return ProcessFigures(campaigns, agents)


def test_the_process_holding_the_socket_wins_over_a_leftover_pause() -> None:
    left = _p({"a": AgentFigure("paused", ("c",), connected=False)})
    holder = _p({"a": AgentFigure("ready", ("c",), connected=True)})
    assert merge_agents([left, holder])["a"].state == "ready"
    assert merge_agents([holder, left])["a"].state == "ready"


def test_an_agent_kept_for_its_call_wins_over_a_leftover_pause() -> None:
    """Its socket went mid-call: the process with the call still has it busy."""
    busy = _p({"a": AgentFigure("wrap_up", ("c",), connected=False, call_id="k1")})
    left = _p({"a": AgentFigure("paused", ("c",), connected=False)})
    merged = merge_agents([left, busy])["a"]
    assert (merged.state, merged.call_id) == ("wrap_up", "k1")


def test_ties_go_to_the_first_process() -> None:
    mine = _p({"a": AgentFigure("paused", ("c",), connected=False)})
    other = _p({"a": AgentFigure("paused", ("d",), connected=False)})
    assert merge_agents([mine, other])["a"].campaign_ids == ("c",)


def test_campaign_figures_add_up_over_processes() -> None:
    one = _p(
        {
            "a": AgentFigure("ready", ("c",), connected=True),
            "b": AgentFigure("paused", ("c", "d"), connected=True),
        },
        c=CampaignFigure(lines_in_flight=3, dial_level=2.0),
    )
    two = _p(
        {
            "x": AgentFigure("on_call", ("c",), connected=True, call_id="k"),
            "y": AgentFigure("ready", ("c",), connected=True),
            "z": AgentFigure("ready", ("d",), connected=True),
        },
        c=CampaignFigure(lines_in_flight=4, dial_level=3.5, capped=True),
    )
    floor = floor_campaign("c", [one, two], merge_agents([one, two]))
    assert floor.agents == {"ready": 2, "paused": 1, "on_call": 1, "wrap_up": 0}
    assert (floor.lines_in_flight, floor.capped, floor.processes) == (7, True, 2)
    # Weighed by the agents each process dials for: 1 x 2.0 and 2 x 3.5.
    assert floor.dial_level == (2.0 + 2 * 3.5) / 3


def test_with_nobody_dialing_the_level_is_this_process_s() -> None:
    one = _p({}, c=CampaignFigure(dial_level=1.5))
    two = _p({}, c=CampaignFigure(dial_level=4.0))
    assert floor_campaign("c", [one, two], {}).dial_level == 1.5
    assert floor_campaign("nope", [one, two], {}).agents == dict.fromkeys(AGENT_STATES, 0)


def test_figures_survive_their_text_and_bad_text_counts_as_nothing() -> None:
    figures = _p(
        {"a": AgentFigure("on_call", ("c", "d"), connected=True, call_id="k")},
        c=CampaignFigure(2, 1.25, True),
    )
    assert ProcessFigures.from_json(figures.to_json()) == figures
    for bad in (None, "", "{", "[]", '{"campaigns": {"c": [1]}, "agents": {}}', '"x"'):
        assert ProcessFigures.from_json(bad) == ProcessFigures()


_agent = st.builds(
    AgentFigure,
    st.sampled_from(AGENT_STATES),
    st.lists(st.sampled_from("cde"), max_size=3, unique=True).map(tuple),
    st.booleans(),
)
_process = st.builds(
    ProcessFigures,
    st.just({}),
    st.dictionaries(st.sampled_from(["a", "b", "x", "y"]), _agent, max_size=4),
)


@given(st.lists(_process, min_size=1, max_size=4))
def test_each_agent_counts_once_in_each_of_its_campaigns(processes: list[ProcessFigures]) -> None:
    merged = merge_agents(processes)
    assert set(merged) == {aid for p in processes for aid in p.agents}
    for cid in "cde":
        floor = floor_campaign(cid, processes, merged)
        assert sum(floor.agents.values()) == sum(cid in a.campaign_ids for a in merged.values())
    for aid, figure in merged.items():
        # Only one process can hold an open socket: a connected figure wins.
        if any(p.agents.get(aid, figure).connected for p in processes):
            assert figure.connected


def test_the_holder_counts_an_agent_in_its_gauges_and_a_leftover_does_not() -> None:
    holder = _p({"a": AgentFigure("ready", ("c",), connected=True)}, c=CampaignFigure())
    left = _p({"a": AgentFigure("paused", ("c",), connected=False)}, c=CampaignFigure())
    assert counted_here("p2", holder, [("p1", left)])["c"]["ready"] == 1
    assert counted_here("p1", left, [("p2", holder)])["c"] == dict.fromkeys(AGENT_STATES, 0)
    # Left paused on both: the lowest process id counts it, on both sides.
    other = _p({"a": AgentFigure("paused", ("c",), connected=False)})
    assert counted_here("p1", left, [("p2", other)])["c"]["paused"] == 1
    assert "c" not in counted_here("p2", other, [("p1", left)])


@given(st.lists(_process, min_size=1, max_size=4))
def test_summed_over_processes_the_gauges_count_each_agent_once(
    processes: list[ProcessFigures],
) -> None:
    """What Prometheus adds up over the processes is the floor's own count."""
    named = [(f"p{i}", p) for i, p in enumerate(processes)]
    merged = merge_agents(processes)
    for cid in "cde":
        total = sum(
            sum(counted_here(pid, p, [o for o in named if o[0] != pid]).get(cid, {}).values())
            for pid, p in named
        )
        assert total == sum(cid in a.campaign_ids for a in merged.values())
