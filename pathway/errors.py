"""Domain errors: what the services raise when they refuse. Each names a stable code the API exposes."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    title = "Request refused"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    code = "invalid"
    title = "Invalid input"

    def __init__(self, errors: dict[str, list[str]] | str, detail: str = "Some fields are not valid."):
        if isinstance(errors, str):
            errors = {"non_field_errors": [errors]}
        super().__init__(detail + " " + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class NotPermitted(DomainError):
    code = "forbidden"
    title = "Not permitted for your role"


class Conflict(DomainError):
    code = "conflict"
    title = "Changed by someone else"

    def __init__(self, detail: str, *, stage: str | None = None):
        super().__init__(detail)
        self.stage = stage


class TransitionRefused(DomainError):
    code = "transition_refused"
    title = "Transition not possible now"

    def __init__(self, *, transition: str, stage: str, allowed: list[str], unmet: list[str], detail: str):
        super().__init__(detail)
        self.transition = transition
        self.stage = stage
        self.allowed = allowed
        self.unmet = unmet
