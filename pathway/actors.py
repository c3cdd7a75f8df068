"""Who is acting: a signed-in person or an integration's API key, with a role per clinic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .stages import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Actor:
    roles: Mapping[int, str] = field(default_factory=dict)
    user: AbstractBaseUser | None = None
    api_key: Any = None  # api.models.ClinicAPIKey; typed loosely so the domain does not import the API.

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        """Memberships are read once per user object and cached on it."""
        cached = getattr(user, "_pathway_actor", None)
        if cached is not None:
            return cached
        roles: dict[int, str] = {}
        if user.is_authenticated and user.is_active:
            roles = dict(user.clinic_memberships.values_list("clinic_id", "role"))
        actor = cls(roles=roles, user=user)
        user._pathway_actor = actor
        return actor

    @classmethod
    def for_api_key(cls, api_key: Any) -> Actor:
        return cls(roles={api_key.clinic_id: api_key.role}, api_key=api_key)

    def role_in(self, clinic_id: int) -> str | None:
        return self.roles.get(clinic_id)

    @property
    def clinic_ids(self) -> list[int]:
        return list(self.roles)

    def clinic_ids_for(self, *roles: str) -> list[int]:
        return [clinic_id for clinic_id, role in self.roles.items() if role in roles]

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.prefix}"
        return self.user.get_username() if self.user is not None else "system"


SYSTEM = Actor(roles={})


def as_actor(who: Actor | AbstractBaseUser) -> Actor:
    """django-fsm and its admin hand permission checks a Django user; the services hand an Actor."""
    return who if isinstance(who, Actor) else Actor.for_user(who)


def role_may(*roles: Role):
    """A django-fsm permission: the caller holds one of `roles` in the episode's clinic."""

    def permission(episode: Any, who: Actor | AbstractBaseUser) -> bool:
        return as_actor(who).role_in(episode.clinic_id) in roles

    permission.roles = frozenset(roles)
    return permission
