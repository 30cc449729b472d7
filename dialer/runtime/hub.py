"""The agents' sockets: who is connected, and sending them messages.

A send to a socket that has gone away never raises into the driver: the
message is dropped and the socket's own disconnect handling pauses the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["AgentHub", "AgentSession", "CloseAgentSocket", "SendToAgent"]

log = logging.getLogger(__name__)

# How the hub reaches one softphone: send it a frame; close it (when a newer
# connection replaces it).
SendToAgent = Callable[[dict[str, Any]], Awaitable[None]]
CloseAgentSocket = Callable[[int, str], Awaitable[None]]
"""Ends a softphone's connection with a WebSocket close code and reason."""


class AgentSession:
    __slots__ = ("agent_id", "close", "send")

    def __init__(
        self, agent_id: str, send: SendToAgent, close: CloseAgentSocket | None = None
    ) -> None:
        self.agent_id = agent_id
        self.send = send
        self.close = close  # ends the connection when a newer one replaces it


class AgentHub:
    def __init__(self) -> None:
        self._sessions: dict[str, AgentSession] = {}

    def attach(
        self, agent_id: str, send: SendToAgent, close: CloseAgentSocket | None = None
    ) -> tuple[AgentSession, AgentSession | None]:
        """Register a socket; returns it and the one it replaces (a second login)."""
        session = AgentSession(agent_id, send, close)
        previous = self._sessions.get(agent_id)
        self._sessions[agent_id] = session
        return session, previous

    def detach(self, session: AgentSession) -> bool:
        """Forget the socket if it is still the agent's current one."""
        if self.is_current(session):
            del self._sessions[session.agent_id]
            return True
        return False

    def is_current(self, session: AgentSession) -> bool:
        """Whether ``session`` is still its agent's socket (not replaced, not gone)."""
        return self._sessions.get(session.agent_id) is session

    def session(self, agent_id: str) -> AgentSession | None:
        """The agent's current socket, if it has one."""
        return self._sessions.get(agent_id)

    def agent_ids(self) -> list[str]:
        """The agents with a socket open here."""
        return list(self._sessions)

    def connected(self, agent_id: str) -> bool:
        return agent_id in self._sessions

    async def send(self, agent_id: str, message: dict[str, Any]) -> None:
        session = self._sessions.get(agent_id)
        if session is None:
            return
        try:
            await session.send(message)
        except Exception:  # a dead socket: its reader will see the disconnect
            log.debug("send to agent %s failed", agent_id, exc_info=True)

    def __len__(self) -> int:
        return len(self._sessions)
