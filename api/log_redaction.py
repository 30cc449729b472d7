"""Agents' socket tokens kept out of the server's logs.

The softphone presents its token in the WebSocket URL's query string (the
contract: browsers cannot set headers on a WebSocket), and uvicorn logs every
socket's path with its query string ('"WebSocket /api/v1/agents/ID/ws?token=..."
[accepted]'): anyone who could read the log could take over any agent's
softphone. This filter rewrites the token in uvicorn's records.
"""

from __future__ import annotations

import logging
import re

__all__ = ["TokenRedaction", "redact_server_logs"]

_TOKEN = re.compile(r"(token=)[^&\s\"']+")
_SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def _redact(value: object) -> object:
    return _TOKEN.sub(r"\1[redacted]", value) if isinstance(value, str) else value


class TokenRedaction(logging.Filter):
    """Replaces ``token=...`` in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact(v) for k, v in record.args.items()}
        return True


def redact_server_logs() -> None:
    """Install the filter on uvicorn's loggers, once (their config comes and goes)."""
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedaction) for f in logger.filters):
            logger.addFilter(TokenRedaction())
