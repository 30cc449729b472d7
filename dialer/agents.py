"""The agent state machine.

::

    LOGGED_OUT --login--> PAUSED --ready--> READY --take_call--> ON_CALL
                            ^  ^--pause-----'  ^                   |
                            |                  '--release----------| (call never connected)
                            '----disposition---- WRAP_UP <-----' (call ended)
                              (pause pending)    '--disposition--> READY

A pause asked for while ON_CALL or WRAP_UP is remembered and taken when the
wrap-up ends: the wrap-up is the call's, and only its disposition (or the
campaign's wrap-up limit) closes it, so a softphone that drops during
wrap-up still gets to file the disposition when it comes back.
Illegal transitions raise :class:`dialer.errors.IllegalTransition`.
"""

from __future__ import annotations

import enum

from dialer.errors import IllegalTransition

__all__ = ["Agent", "AgentState"]


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


# Members as module constants: Python 3.11's EnumType.__getattr__ makes every
# ``AgentState.X`` a slow lookup, and these transitions run for every simulated event.
_LOGGED_OUT = AgentState.LOGGED_OUT
_READY = AgentState.READY
_ON_CALL = AgentState.ON_CALL
_WRAP_UP = AgentState.WRAP_UP
_PAUSED = AgentState.PAUSED


class Agent:
    """One agent's live state. ``since`` is when it entered its current state.

    Every transition sets ``state`` and ``since`` together, written out in
    each (not through a helper): they run several times per simulated call.
    """

    __slots__ = (
        "call_id",
        "campaign_ids",
        "id",
        "pause_pending",
        "since",
        "state",
        "talk_started_at",
        "wrap_started_at",
    )

    def __init__(self, agent_id: str, campaign_ids: tuple[str, ...], now: float) -> None:
        self.id = agent_id
        self.campaign_ids = campaign_ids
        self.state = _LOGGED_OUT
        self.since = now
        self.call_id: str | None = None
        self.pause_pending = False
        self.talk_started_at: float | None = None
        self.wrap_started_at: float | None = None

    def _illegal(self, action: str) -> IllegalTransition:
        return IllegalTransition("agent", self.state.value, action)

    def login(self, now: float) -> None:
        if self.state is not _LOGGED_OUT:
            raise self._illegal("log in")
        self.state = _PAUSED
        self.since = now

    def ready(self, now: float) -> None:
        if self.state is not _PAUSED:
            raise self._illegal("become ready")
        self.pause_pending = False
        self.state = _READY
        self.since = now

    def pause(self, now: float) -> bool:
        """Pause now, or after the current call's wrap-up. True if paused at once."""
        if self.state is _READY:
            self.state = _PAUSED
            self.since = now
            return True
        if self.state is _PAUSED:
            return False
        if self.state is _ON_CALL or self.state is _WRAP_UP:
            self.pause_pending = True
            return False
        raise self._illegal("pause")

    def take_call(self, call_id: str, now: float) -> None:
        if self.state is not _READY:
            raise self._illegal("take a call")
        self.call_id = call_id
        self.talk_started_at = None
        self.state = _ON_CALL
        self.since = now

    def connected(self, now: float) -> None:
        if self.state is not _ON_CALL:
            raise self._illegal("connect")
        self.talk_started_at = now

    def release(self, now: float) -> None:
        """The call offered to (or dialed for) the agent never connected."""
        if self.state is not _ON_CALL:
            raise self._illegal("release")
        self.call_id = None
        if self.pause_pending:
            self.pause_pending = False
            self.state = _PAUSED
            self.since = now
        else:
            self.state = _READY
            self.since = now

    def end_call(self, now: float) -> None:
        if self.state is not _ON_CALL:
            raise self._illegal("end a call")
        self.wrap_started_at = now
        self.state = _WRAP_UP
        self.since = now

    def finish_wrap_up(self, now: float) -> None:
        """Disposition given: ready again, or paused if a pause was asked for."""
        if self.state is not _WRAP_UP:
            raise self._illegal("close wrap-up")
        self.call_id = None
        if self.pause_pending:
            self.pause_pending = False
            self.state = _PAUSED
            self.since = now
        else:
            self.state = _READY
            self.since = now

    def logout(self, now: float) -> None:
        if self.state is _ON_CALL:
            raise self._illegal("log out")
        self.call_id = None
        self.state = _LOGGED_OUT
        self.since = now
