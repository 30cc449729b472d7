"""The HTTP/WebSocket layer: it talks to the dialer only through DialerService."""

from api.app import create_app

__all__ = ["create_app"]
