"""The uvicorn server the service runs under: it drains before it stops.

uvicorn's own shutdown closes every WebSocket at once (1012) and only then
tells the app: a person talking to an agent was cut off mid-sentence and
the agent's disposition was lost. This server first lets the service drain
(:meth:`dialer.runtime.service.DialerService.drain`: no more dialing, each
softphone sent away once its agent has no call), for at most the settings'
``drain_s``; a second Ctrl-C stops waiting.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from dialer.runtime.service import DialerService

__all__ = ["DrainingServer"]

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: DialerService) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Still listening while draining: a softphone whose connection drops
        # mid-call can come back to finish it (any other is sent elsewhere).
        if self.service.started:
            try:
                await self.service.drain(
                    self.service.settings.drain_s, give_up=lambda: self.force_exit
                )
            except Exception:  # stopping must go on whatever happened
                log.exception("draining failed; stopping now")
            # A second Ctrl-C cuts the drain short, but uvicorn would also skip
            # the app's shutdown on it, and with it the service's tidy stop
            # (calls closed, leads given back): that part is quick, keep it.
            self.force_exit = False
        await super().shutdown(sockets)
