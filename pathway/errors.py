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


class StateRefused(InvalidInput):
    """Input that is right in itself, refused because of the object's current state: an appointment that is
    no longer booked, a checklist item whose evidence is not on file yet. Still an InvalidInput (the form
    shows it next to its field); the API answers it as a conflict with the state, like a refused transition.
    """

    code = "transition_refused"
    title = "Not possible in the current state"

    def __init__(self, errors: dict[str, list[str]] | str, *, action: str, state: str, allowed=()):
        super().__init__(errors)
        self.detail = " ".join(m for messages in self.errors.values() for m in messages)
        self.action, self.state, self.allowed = action, state, list(allowed)


class AlreadyExists(InvalidInput):
    """A value that must be unique is taken (an MRN in the clinic, an external reference): right in itself,
    refused because of what is already stored; the API answers it as a conflict."""

    code = "already_exists"
    title = "Already exists"


class NotPermitted(DomainError):
    code = "forbidden"
    title = "Not permitted for your role"


class Conflict(DomainError):
    code = "conflict"
    title = "Changed by someone else"

    def __init__(self, detail: str, *, stage: str | None = None):
        super().__init__(detail)
        self.stage = stage


class DuplicateBooking(Conflict):
    """The patient already has an active appointment of this kind at this time (a retried booking)."""

    code = "duplicate_booking"
    title = "Already booked"

    def __init__(self, detail: str, *, existing):
        super().__init__(detail)
        self.existing = existing


class TransitionRefused(DomainError):
    code = "transition_refused"
    title = "Transition not possible now"

    def __init__(self, *, transition: str, stage: str, allowed: list[str], unmet: list[str], detail: str):
        super().__init__(detail)
        self.transition = transition
        self.stage = stage
        self.allowed = allowed
        self.unmet = unmet
