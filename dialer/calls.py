"""The call state machine and the call record it produces.

::

    DIALING --answered--> ANSWERED (AMD listening) --human--> WAITING
       |                      |--machine--> ENDED (outcome machine)
       |--answered, no AMD--> WAITING --offer--> OFFERED --bridged--> BRIDGED --> ENDED
       |--busy/invalid/failed--> ENDED            |--deadline--> ENDED (abandoned)
       |--ring timeout--> ENDED (no_answer)

Times are the driver's clock in seconds. Illegal transitions raise
:class:`dialer.errors.IllegalTransition`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dialer.campaign import CallOutcome
from dialer.errors import IllegalTransition
from dialer.frozen import fast_init

__all__ = ["Call", "CallRecord", "CallState"]


class CallState(enum.Enum):
    DIALING = "dialing"
    ANSWERED = "answered"
    WAITING = "waiting"
    OFFERED = "offered"
    BRIDGED = "bridged"
    ENDED = "ended"


# Members as module constants: Python 3.11's EnumType.__getattr__ makes every
# ``CallState.X`` a slow lookup, and these transitions run for every simulated event.
_DIALING = CallState.DIALING
_ANSWERED = CallState.ANSWERED
_WAITING = CallState.WAITING
_OFFERED = CallState.OFFERED
_BRIDGED = CallState.BRIDGED
_ENDED = CallState.ENDED
_HUMAN = CallOutcome.HUMAN
_MACHINE = CallOutcome.MACHINE
_NO_ANSWER = CallOutcome.NO_ANSWER


@fast_init
@dataclass(frozen=True, slots=True)
class CallRecord:
    """The record of one attempt (spec/api.md's call record, in driver seconds)."""

    id: str
    campaign_id: str
    lead_id: str
    phone: str
    agent_id: str | None
    outcome: CallOutcome | None
    abandoned: bool
    dialed_at: float
    answered_at: float | None
    bridged_at: float | None
    ended_at: float | None
    disposition: str | None = None
    # The compliance decision behind the attempt (why it was allowed).
    decision: str | None = None
    # The answering-machine detector's verdict ("human", "machine"), if it judged.
    amd: str | None = None


class Call:
    """One attempt's live state. Mutable; owned by the core."""

    __slots__ = (
        "abandoned",
        "agent_id",
        "amd_verdict",
        "answered_at",
        "bridged_at",
        "campaign_id",
        "classified_at",
        "decision",
        "dialed_at",
        "disposition",
        "ended_at",
        "id",
        "lead_id",
        "machine",
        "outcome",
        "phone",
        "preview_agent_id",
        "state",
    )

    def __init__(
        self,
        call_id: str,
        campaign_id: str,
        lead_id: str,
        phone: str,
        dialed_at: float,
        preview_agent_id: str | None = None,
        decision: str | None = None,
    ) -> None:
        self.id = call_id
        self.campaign_id = campaign_id
        self.lead_id = lead_id
        self.phone = phone
        self.dialed_at = dialed_at
        self.preview_agent_id = preview_agent_id
        self.state = _DIALING
        self.agent_id: str | None = None
        self.outcome: CallOutcome | None = None
        self.abandoned = False
        self.machine = False
        self.answered_at: float | None = None
        self.classified_at: float | None = None
        self.bridged_at: float | None = None
        self.ended_at: float | None = None
        self.disposition: str | None = None
        self.decision = decision
        self.amd_verdict: str | None = None

    def _illegal(self, action: str) -> IllegalTransition:
        return IllegalTransition("call", self.state.value, action)

    # --- transitions ---------------------------------------------------------
    def answer(self, now: float, amd: bool) -> None:
        if self.state is not _DIALING:
            raise self._illegal("answer")
        self.answered_at = now
        self.outcome = _HUMAN
        if amd:
            self.state = _ANSWERED
        else:
            self.classified_at = now
            self.state = _WAITING

    def classify(self, now: float, machine: bool) -> None:
        if self.state is not _ANSWERED:
            raise self._illegal("classify")
        self.classified_at = now
        self.amd_verdict = "machine" if machine else "human"
        if machine:
            self.machine = True
            self.outcome = _MACHINE
            self.end(now)
        else:
            self.state = _WAITING

    def offer(self, agent_id: str) -> None:
        if self.state is not _WAITING:
            raise self._illegal("offer")
        self.agent_id = agent_id
        self.state = _OFFERED

    def bridge(self, now: float) -> None:
        if self.state is not _OFFERED:
            raise self._illegal("bridge")
        self.bridged_at = now
        self.state = _BRIDGED

    def fail(self, now: float, outcome: CallOutcome) -> None:
        if self.state is not _DIALING:
            raise self._illegal("fail")
        self.outcome = outcome
        self.end(now)

    def abandon(self, now: float) -> None:
        if self.state not in (_WAITING, _ANSWERED):
            raise self._illegal("abandon")
        # A person waiting for an agent who gets none is abandoned. A call
        # the agent said was a machine is never counted (see ``machine``).
        self.abandoned = not self.machine
        self.end(now)

    def end(self, now: float) -> None:
        if self.state is _ENDED:
            raise self._illegal("end")
        if self.outcome is None:
            self.outcome = _NO_ANSWER
        self.ended_at = now
        self.state = _ENDED

    # --- views ---------------------------------------------------------------
    @property
    def connect_deadline_from(self) -> float | None:
        """The instant the connect deadline counts from (answer or AMD verdict)."""
        return self.classified_at

    def record(self) -> CallRecord:
        return CallRecord(
            id=self.id,
            campaign_id=self.campaign_id,
            lead_id=self.lead_id,
            phone=self.phone,
            agent_id=self.agent_id,
            outcome=self.outcome,
            abandoned=self.abandoned,
            dialed_at=self.dialed_at,
            answered_at=self.answered_at,
            bridged_at=self.bridged_at,
            ended_at=self.ended_at,
            disposition=self.disposition,
            decision=self.decision,
            amd=self.amd_verdict,
        )
