"""The agent softphone's WebSocket: ``/api/v1/agents/{id}/ws?token=...``.

The socket authenticates with the agent's own token, then carries JSON
messages both ways. Incoming frames are validated here (see
``api.schemas.agent_messages``) and handed to the service as plain dicts; the
service pushes ``state``, ``call`` and ``call_ended`` frames through the
``send`` callable it is given. A frame the protocol cannot take is answered
with an ``error`` frame and the socket stays open: a softphone bug must not
drop an agent mid-call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.encoders import jsonable_encoder
from starlette.websockets import WebSocketState

from api.deps import ServiceDep
from api.errors import json_unreadable
from api.schemas.agent_messages import AgentMessageError, parse_agent_message
from dialer.errors import ConflictError, DialerError, ServiceStopping
from dialer.runtime.service import WS_REPLACED, WS_RESTARTING, WS_UNAUTHORIZED, DialerService
from dialer.storage.records import unstorable

__all__ = [
    "WS_1011_INTERNAL_ERROR",
    "WS_REPLACED",
    "WS_UNAUTHORIZED",
    "AgentSocket",
    "router",
]

log = logging.getLogger(__name__)

WS_1011_INTERNAL_ERROR = 1011

router = APIRouter(tags=["agents"])


class AgentSocket:
    """One open softphone connection: serialised sends and the receive loop."""

    def __init__(self, websocket: WebSocket, service: DialerService, agent_id: str) -> None:
        self.websocket = websocket
        self.service = service
        self.agent_id = agent_id
        # The service sends from its own tasks while this socket's loop answers
        # errors: one lock keeps frames whole and in order.
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._session: object | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON frame; on a closed socket, drop it quietly.

        The service calls this from its driver: a softphone that has gone away
        must never raise into it (its disconnect is handled by ``run``).
        """
        async with self._send_lock:
            if self._closed:
                return
            try:
                await self.websocket.send_text(json.dumps(jsonable_encoder(message)))
            except Exception:
                self._closed = True
                log.debug("agent %s: send on a closed socket dropped", self.agent_id)

    async def close(self, code: int, reason: str) -> None:
        """Close this socket for the service (a newer connection, a replaced token)."""
        async with self._send_lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self.websocket.close(code=code, reason=reason)
            except Exception:
                log.debug("agent %s: closing the socket (%s) failed", self.agent_id, code)

    async def _error(self, message: str) -> None:
        await self.send({"type": "error", "message": message})

    async def _handle(self, text: str) -> None:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError) as exc:
            error = json_unreadable(exc)
            if error is None:
                raise
            await self._error(f"not JSON: {error['ctx']['error']}")
            return
        try:
            message = parse_agent_message(payload)
        except AgentMessageError as exc:
            await self._error(str(exc))
            return
        try:
            await self.service.agent_message(self.agent_id, message, session=self._session)
        except DialerError as exc:
            await self._error(str(exc))
        except Exception:
            # A bug behind the facade: say so and keep the agent connected.
            log.exception("agent %s: message %r failed", self.agent_id, message.get("type"))
            await self._error("internal error: the message was not taken")

    async def run(self) -> None:
        """Register with the service, then read frames until the socket closes."""
        try:
            session = await self.service.agent_connected(self.agent_id, self.send, close=self.close)
        except ServiceStopping as exc:  # draining: connect to another process
            self._closed = True
            await self.websocket.close(code=WS_RESTARTING, reason=str(exc)[:120])
            return
        except ConflictError as exc:  # connected to another process
            self._closed = True
            await self.websocket.close(code=WS_REPLACED, reason=str(exc)[:120])
            return
        except Exception:
            log.exception("agent %s: could not attach the socket", self.agent_id)
            self._closed = True
            await self.websocket.close(code=WS_1011_INTERNAL_ERROR)
            return
        self._session = session
        try:
            while True:
                frame = await self.websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                text = frame.get("text")
                if text is None:
                    data = frame.get("bytes") or b""
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        await self._error("send JSON text frames")
                        continue
                await self._handle(text)
        finally:
            async with self._send_lock:
                self._closed = True
            try:
                await self.service.agent_disconnected(self.agent_id, session)
            except Exception:
                log.exception("agent %s: disconnect handling failed", self.agent_id)


@router.websocket("/agents/{agent_id}/ws")
async def agent_socket(
    websocket: WebSocket, agent_id: str, service: ServiceDep, token: str | None = None
) -> None:
    await websocket.accept()
    if unstorable(agent_id) or unstorable(token):
        # No agent's id or token holds a NUL, and PostgreSQL cannot even look
        # one up: refused as any unknown agent is.
        await websocket.close(code=WS_UNAUTHORIZED, reason="invalid or missing agent token")
        return
    try:
        allowed = bool(token) and await service.authenticate_agent(agent_id, token or "")
    except Exception:
        log.exception("agent %s: token check failed", agent_id)
        await websocket.close(code=WS_1011_INTERNAL_ERROR)
        return
    if not allowed:
        # Accepted first so the client sees this code rather than a bare HTTP 403.
        await websocket.close(code=WS_UNAUTHORIZED, reason="invalid or missing agent token")
        return
    await AgentSocket(websocket, service, agent_id).run()
    # Closed by us already (4409, 4401) or not: the client's side may still
    # read as connected while ours has sent its close, and a second close
    # raised "Cannot call send once a close message has been sent".
    if (
        websocket.application_state is WebSocketState.CONNECTED
        and websocket.client_state is WebSocketState.CONNECTED
    ):
        await websocket.close()
