"""The domain's exceptions: no HTTP codes here, the API maps them in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the domain enforces."""


class MissingActor(DomainError):
    """An event or command without an authenticated actor."""


class InvalidValue(DomainError):
    """A value that breaks a rule; `field` names it (a dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IllegalStep(DomainError):
    """A step the issue's current state does not allow."""

    def __init__(
        self, kind: str, state: str, step: str, allowed: tuple[str, ...] | list[str]
    ) -> None:
        allowed_txt = ", ".join(allowed) if allowed else "none"
        super().__init__(f"cannot {step} a {kind} in state '{state}'; allowed steps: {allowed_txt}")
        self.kind = kind
        self.state = state
        self.step = step
        self.allowed = list(allowed)


class RuleViolation(DomainError):
    """A step that is allowed in this state but breaks a rule (e.g. close without callback)."""

    def __init__(
        self, kind: str, state: str, step: str, message: str, allowed: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.state = state
        self.step = step
        self.allowed = allowed or []


class NotAssignee(DomainError):
    """A step only the ticket's assignee may take, tried by someone else (HTTP 403)."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step
