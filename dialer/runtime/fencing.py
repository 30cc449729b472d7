"""No call is dialed that cannot be recorded, nor by a process that may have lost its lease.

Calls are written ahead: the telephony originates a call only once its
record is committed. While the database is away, every dial would fail that
check one by one, burning a lead's attempt each; and a process whose
heartbeat has not landed for a good part of its lease may be declared dead
by another, which then hands this process's leads to itself. So while
writes are failing, or the last heartbeat is older than half the lease, the
gate the core consults refuses every dial campaign-wide (the leads stay in
the hopper, nothing is skipped), and when both are well again the service
is told, to wake the pacers. A process draining to stop refuses them the
same way, for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dialer.campaign import CampaignSettings, Lead
from dialer.ports import DialGate, GateVerdict

__all__ = ["PROCESS_STOPPING", "RECORDS_UNAVAILABLE", "FencedGate", "RecordsHealth"]

RECORDS_UNAVAILABLE = "records_unavailable"
PROCESS_STOPPING = "process_stopping"
_REFUSED = GateVerdict(False, RECORDS_UNAVAILABLE, campaign_blocked=True)
_STOPPING = GateVerdict(False, PROCESS_STOPPING, campaign_blocked=True)


class RecordsHealth:
    """Whether this process may dial: its writes land and its lease holds."""

    def __init__(self, lease_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stale_after_s = lease_s / 2
        self._last_beat = clock()
        self._writes_ok = True
        self._stopping = False
        self._was_ok = True
        self._on_restored: list[Callable[[], None]] = []

    def on_restored(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time dialing may resume after a refusal."""
        self._on_restored.append(callback)

    @property
    def ok(self) -> bool:
        ok = self.reason is None
        if not ok:
            # Read by the gate: a dial was refused, so a restore must wake the pacers.
            self._was_ok = False
        return ok

    @property
    def reason(self) -> str | None:
        """Why dialing is refused now (for logs and stats), or None."""
        if self._stopping:
            return "this process is stopping"
        if not self._writes_ok:
            return "writes to the database are failing"
        if self._clock() - self._last_beat >= self._stale_after_s:
            return "the heartbeat has not reached the database for half a lease"
        return None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop_dialing(self) -> None:
        """Refuse every dial from now on, for good: the process is draining."""
        self._stopping = True

    def writes(self, ok: bool) -> None:
        self._writes_ok = ok
        self._check_restored()

    def beat(self) -> None:
        self._last_beat = self._clock()
        self._check_restored()

    def _check_restored(self) -> None:
        if self.ok and not self._was_ok:
            self._was_ok = True
            for callback in self._on_restored:
                callback()


class FencedGate:
    """A dial gate that first asks :class:`RecordsHealth`, then the compliance gate."""

    def __init__(self, inner: DialGate, health: RecordsHealth) -> None:
        self._inner = inner
        self._health = health

    def check(self, lead: Lead, campaign: CampaignSettings, wall_epoch: float) -> GateVerdict:
        if not self._health.ok:
            return _STOPPING if self._health.stopping else _REFUSED
        return self._inner.check(lead, campaign, wall_epoch)
