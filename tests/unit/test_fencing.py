"""The dial gate refuses while records cannot be written or the lease may have lapsed."""

from __future__ import annotations

from dialer.campaign import CampaignSettings, Lead
from dialer.ports import ALLOWED, GateVerdict
from dialer.runtime.fencing import PROCESS_STOPPING, RECORDS_UNAVAILABLE, FencedGate, RecordsHealth


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class AllowAll:
    def check(self, lead: Lead, campaign: CampaignSettings, wall_epoch: float) -> GateVerdict:
        return ALLOWED


LEAD = Lead("l1", "c1", "+14155550100")
CAMPAIGN = CampaignSettings(id="c1", name="c")


def _fenced() -> tuple[Clock, RecordsHealth, FencedGate, list[str]]:
    """A 30 s lease's health on a clock of the test's, its gate, and its wake-ups."""
    clock = Clock()
    health = RecordsHealth(30.0, clock=clock)
    woken: list[str] = []
    health.on_restored(lambda: woken.append("resume"))
    return clock, health, FencedGate(AllowAll(), health), woken


def test_writes_failing_refuse_every_dial_campaign_wide_until_they_land() -> None:
    _clock, health, gate, woken = _fenced()
    assert gate.check(LEAD, CAMPAIGN, 0.0).allowed
    health.writes(False)
    verdict = gate.check(LEAD, CAMPAIGN, 0.0)
    assert (verdict.allowed, verdict.reason, verdict.campaign_blocked) == (
        False,
        RECORDS_UNAVAILABLE,
        True,
    )
    assert health.reason == "writes to the database are failing"
    health.writes(True)
    assert gate.check(LEAD, CAMPAIGN, 0.0).allowed and woken == ["resume"]


def test_a_heartbeat_older_than_half_the_lease_refuses_dials() -> None:
    clock, health, gate, woken = _fenced()
    clock.t += 14.9
    assert gate.check(LEAD, CAMPAIGN, 0.0).allowed
    clock.t += 0.2  # 15.1 s since the last beat landed: another process may take over at 30
    assert not gate.check(LEAD, CAMPAIGN, 0.0).allowed
    assert health.reason is not None and "heartbeat" in health.reason
    health.beat()
    assert gate.check(LEAD, CAMPAIGN, 0.0).allowed and woken == ["resume"]
    health.beat()  # no refusal in between: nobody to wake
    assert woken == ["resume"]


def test_a_draining_process_refuses_every_dial_for_good() -> None:
    _clock, health, gate, woken = _fenced()
    health.stop_dialing()
    verdict = gate.check(LEAD, CAMPAIGN, 0.0)
    assert (verdict.allowed, verdict.reason, verdict.campaign_blocked) == (
        False,
        PROCESS_STOPPING,
        True,
    )
    # Writes landing and beats are no reason to dial again, nor to wake pacers.
    health.writes(False)
    health.writes(True)
    health.beat()
    assert not gate.check(LEAD, CAMPAIGN, 0.0).allowed
    assert health.reason == "this process is stopping" and woken == []
