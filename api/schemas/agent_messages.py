"""What a softphone may send on the agent WebSocket, validated before the service sees it.

A discriminated union on ``type``: one unknown ``type`` or one bad field gives
one clear error frame, and the service only ever receives well-formed dicts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, TypeAdapter, ValidationError

from api.schemas.base import RequestModel, error_text, in_utc

__all__ = [
    "MESSAGE_TYPES",
    "AgentMessageError",
    "DialMessage",
    "DispositionMessage",
    "HangupMessage",
    "PauseMessage",
    "ReadyMessage",
    "parse_agent_message",
]


class ReadyMessage(RequestModel):
    type: Literal["ready"]


class PauseMessage(RequestModel):
    type: Literal["pause"]
    reason: str = Field(default="", max_length=200)


class HangupMessage(RequestModel):
    type: Literal["hangup"]
    call_id: str = Field(min_length=1)


class DispositionMessage(RequestModel):
    type: Literal["disposition"]
    call_id: str = Field(min_length=1)
    code: str = Field(min_length=1, max_length=64)
    # Aware only: a callback at "09:00" with no zone could ring at any hour.
    callback_at: Annotated[AwareDatetime, AfterValidator(in_utc)] | None = None
    # A callback for this agent only (until the campaign's personal_callback_wait_s
    # has passed); otherwise anyone may take it.
    personal: bool = False
    notes: str | None = Field(default=None, max_length=4000)


class DialMessage(RequestModel):
    """Preview: the next lead. Manual: ``phone``. Both pass the compliance gate."""

    type: Literal["dial"]
    campaign_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=1, max_length=40)


AgentMessage = Annotated[
    ReadyMessage | PauseMessage | HangupMessage | DispositionMessage | DialMessage,
    Field(discriminator="type"),
]
MESSAGE_TYPES = ("ready", "pause", "hangup", "disposition", "dial")
_ADAPTER: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)


class AgentMessageError(ValueError):
    """A frame the protocol cannot take; its text goes back in an ``error`` frame."""


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        # The first loc item is the union tag ("disposition"); the rest is the field.
        field = ".".join(str(p) for p in error["loc"][1:])
        text = error_text(error)
        parts.append(f"{field}: {text}" if field else text)
    return "; ".join(parts)


def parse_agent_message(payload: Any) -> dict[str, Any]:
    """A decoded JSON frame as the plain dict ``service.agent_message`` takes."""
    if not isinstance(payload, dict):
        raise AgentMessageError("a message must be a JSON object")
    kind = payload.get("type")
    if kind is None:
        raise AgentMessageError('a message needs a "type"')
    if kind not in MESSAGE_TYPES:
        raise AgentMessageError(
            f"unknown message type {kind!r}; expected one of {', '.join(MESSAGE_TYPES)}"
        )
    try:
        message = _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        raise AgentMessageError(f"bad {kind!r} message: {_describe(exc)}") from None
    return message.model_dump()
