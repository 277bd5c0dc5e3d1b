"""Who may do what: roles, capabilities and the session access rules.

Every Gradio handler and every export goes through `Access`; nothing relies on
a component being hidden. Rules:

- no user account in the store: single-user mode, the one local user may do
  everything (the app then only listens on 127.0.0.1 unless told otherwise);
- once accounts exist, an anonymous or removed user may do nothing;
- everyone sees their own calls; reviewers and trainers also see the calls of
  the trainees of their teams (`reviewer_scope=team`) or everyone's (`all`);
  admins see everything;
- reviewers and admins override scores, comment and set verdicts, never on
  their own calls; trainers and admins manage scenarios; admins manage users.
"""

from __future__ import annotations

from typing import Literal, Protocol

from .errors import SimulatorError
from .settings import Settings
from .store import Store
from .users import ROLES, Role, User, UserDirectory

Capability = Literal["practice", "view_others", "review", "manage_scenarios", "manage_users"]

CAPABILITIES: dict[str, frozenset[str]] = {
    "trainee": frozenset({"practice"}),
    "trainer": frozenset({"practice", "view_others", "manage_scenarios"}),
    "reviewer": frozenset({"practice", "view_others", "review"}),
    "admin": frozenset({"practice", "view_others", "review", "manage_scenarios", "manage_users"}),
}
assert set(CAPABILITIES) == set(ROLES)

# The only user when no account exists: the person at the keyboard of 127.0.0.1.
LOCAL_USER = User(username="local", role="admin", display_name=None)


class AccessDenied(SimulatorError):
    """The user may not see or do this. `code` lets the UI say it in the user's language."""

    def __init__(self, message: str, code: str = "denied", **params):
        self.code, self.params = code, params
        super().__init__(message)


class HasTrainee(Protocol):
    trainee: str | None


class Access:
    def __init__(self, store: Store, settings: Settings):
        self.directory = UserDirectory(store)
        self.scope = settings.reviewer_scope

    def single_user(self) -> bool:
        return self.directory.count() == 0

    def user(self, username: str | None) -> User | None:
        """The user behind a request (Gradio's `request.username`); None means: nothing allowed."""
        if self.single_user():
            return LOCAL_USER
        return self.directory.get(username)

    def role_of(self, username: str | None) -> Role | None:
        user = self.user(username)
        return user.role if user else None

    def authenticate(self, username: str, password: str) -> bool:
        return self.directory.authenticate(username, password) is not None

    @staticmethod
    def can(user: User | None, capability: Capability) -> bool:
        return user is not None and capability in CAPABILITIES[user.role]

    def require(self, user: User | None, capability: Capability) -> User:
        if user is None:
            raise AccessDenied("log in first", "login")
        if not self.can(user, capability):
            raise AccessDenied(f"your role ({user.role}) does not allow this", "role", role=user.role)
        return user

    def visible_trainees(self, user: User | None) -> set[str | None] | None:
        """Trainees whose calls `user` may see; None means everyone's (including calls with no trainee)."""
        if user is None:
            return set()
        if user.role == "admin" or (self.can(user, "view_others") and self.scope == "all"):
            return None
        if not self.can(user, "view_others"):
            return {user.username}
        return self.directory.team_members(user.teams) | {user.username}

    def can_view_session(self, user: User | None, session: HasTrainee | None) -> bool:
        if user is None or session is None:
            return False
        visible = self.visible_trainees(user)
        return visible is None or session.trainee in visible

    def can_review_session(self, user: User | None, session: HasTrainee | None) -> bool:
        """Override, comment, set a verdict: reviewers and admins, on calls they see, never their own."""
        return (self.can(user, "review") and self.can_view_session(user, session)
                and session.trainee != user.username)
