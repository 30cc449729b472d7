"""One root for every error the dialer raises on purpose; the API maps them to HTTP."""

from __future__ import annotations

__all__ = [
    "ComplianceViolation",
    "ConflictError",
    "DialerError",
    "IllegalTransition",
    "InvalidInput",
    "NotFound",
    "ScenarioError",
    "ServiceStopping",
]


class DialerError(Exception):
    """Base of every deliberate dialer error."""


class IllegalTransition(DialerError):
    """A state machine was asked for a transition its state does not allow."""

    def __init__(self, machine: str, state: str, action: str) -> None:
        super().__init__(f"{machine}: cannot {action} while {state}")
        self.machine = machine
        self.state = state
        self.action = action


class NotFound(DialerError):
    """An id that names nothing."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class ConflictError(DialerError):
    """The request clashes with the current state (e.g. a duplicate name)."""


class ServiceStopping(ConflictError):
    """This process is stopping: it takes no new work (another process will)."""


class InvalidInput(DialerError):
    """Input that validation caught; ``field`` names what is at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ComplianceViolation(DialerError):
    """An action that a compliance rule forbids."""


class ScenarioError(InvalidInput):
    """A simulation scenario file that does not follow the format."""
