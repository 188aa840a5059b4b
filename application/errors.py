"""Errors of the service layer (the domain's own live in domain.errors)."""

from __future__ import annotations


class ApplicationError(Exception):
    pass


class NotFound(ApplicationError):
    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(f"{kind} {ref} not found".replace("  ", " "))
        self.kind = kind
        self.ref = ref


class Forbidden(ApplicationError):
    def __init__(self, role: str, action: str) -> None:
        super().__init__(f"role '{role}' may not {action}")
        self.role = role
        self.action = action


class Conflict(ApplicationError):
    def __init__(
        self, kind: str, state: str, message: str, allowed: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.state = state
        self.allowed = allowed or []


class PreconditionFailed(ApplicationError):
    def __init__(self, current: int | None, expected: int) -> None:
        msg = f"If-Match {expected} does not match the current version"
        if current is not None:
            msg += f" {current}"
        super().__init__(msg)
        self.current = current
        self.expected = expected


class IdempotencyMismatch(ApplicationError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key} was already used with a different request body")
        self.key = key


class UnknownReference(ApplicationError):
    """A body field names something that does not exist (e.g. an unknown project code)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
