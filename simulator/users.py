"""User accounts and teams, kept in the store; passwords as salted scrypt hashes.

`hashlib.scrypt` (OpenSSL) is the standard library's memory-hard password
hash: no extra dependency, and each hash carries its own parameters so they
can be raised later without breaking existing accounts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal, get_args

from sqlalchemy import text

from .errors import SimulatorError
from .store import Store, utcnow

Role = Literal["trainee", "trainer", "reviewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

# n=2**14, r=8: about 16 MiB and a few tens of milliseconds per check on this project's machines.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TEAM_RE = re.compile(r"^[\w][\w .-]{0,99}$")


class UserError(SimulatorError):
    """A user or team command cannot be done; the message says why and what to do."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Compared against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(12))


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    teams: tuple[str, ...] = ()
    display_name: str | None = None
    created_at: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return self.display_name or self.username


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")


class UserDirectory:
    """Users and teams in the store. Every method reads the database: a role change applies at once."""

    def __init__(self, store: Store):
        self.store = store

    # reading ----------------------------------------------------------------
    def count(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM users")).scalar() or 0)

    def get(self, username: str | None) -> User | None:
        if not username:
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(text("SELECT username, role, display_name, created_at FROM users WHERE username = :u"),
                               {"u": username}).mappings().first()
            if row is None:
                return None
            teams = [r[0] for r in conn.execute(
                text("SELECT team FROM team_members WHERE username = :u ORDER BY team"), {"u": username})]
        return User(row["username"], row["role"], tuple(teams), row["display_name"], row["created_at"])

    def list(self) -> list[User]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT username, role, display_name, created_at FROM users ORDER BY username")).mappings().all()
            members = conn.execute(text("SELECT username, team FROM team_members ORDER BY team")).all()
        teams: dict[str, list[str]] = {}
        for username, team in members:
            teams.setdefault(username, []).append(team)
        return [User(r["username"], r["role"], tuple(teams.get(r["username"], ())), r["display_name"], r["created_at"])
                for r in rows]

    def team_members(self, teams: tuple[str, ...] | list[str]) -> set[str]:
        if not teams:
            return set()
        params = {f"t{i}": t for i, t in enumerate(teams)}
        with self.store.engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT DISTINCT username FROM team_members WHERE team IN ({', '.join(':' + k for k in params)})"), params)
            return {r[0] for r in rows}

    def authenticate(self, username: str, password: str) -> User | None:
        username = (username or "").strip().lower()
        with self.store.engine.connect() as conn:
            stored = conn.execute(text("SELECT password_hash FROM users WHERE username = :u"), {"u": username}).scalar()
        if not verify_password(password or "", stored or _DUMMY_HASH) or stored is None:
            return None
        return self.get(username)

    # writing ----------------------------------------------------------------
    @staticmethod
    def _check(username: str, role: str | None = None, teams: list[str] | None = None) -> None:
        if not USERNAME_RE.match(username):
            raise UserError(f"invalid username {username!r}: use 2-64 lower-case letters, digits, '.', '_' or '-'")
        if role is not None and role not in ROLES:
            raise UserError(f"invalid role {role!r} (valid roles: {', '.join(ROLES)})")
        for team in teams or []:
            if not TEAM_RE.match(team):
                raise UserError(f"invalid team name {team!r}: letters, digits, spaces, '.', '_' or '-' (100 at most)")

    def add(self, username: str, password: str, *, role: Role = "trainee", teams: list[str] | None = None,
            display_name: str | None = None) -> User:
        username = username.strip().lower()
        self._check(username, role, teams)
        check_password_strength(password)
        if self.get(username) is not None:
            raise UserError(f"user {username!r} already exists (change the password with `users passwd {username}`)")
        now = utcnow()
        with self.store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (username, display_name, role, password_hash, created_at, updated_at) "
                "VALUES (:u, :d, :r, :h, :t, :t)"),
                {"u": username, "d": display_name, "r": role, "h": hash_password(password), "t": now})
            self._set_teams(conn, username, teams or [])
        return self.get(username)

    def set_password(self, username: str, password: str) -> None:
        check_password_strength(password)
        with self.store.engine.begin() as conn:
            result = conn.execute(text("UPDATE users SET password_hash = :h, updated_at = :t WHERE username = :u"),
                                  {"h": hash_password(password), "t": utcnow(), "u": username})
        if not result.rowcount:
            raise UserError(f"no user {username!r} (list them with `users list`)")

    def update(self, username: str, *, role: Role | None = None, teams: list[str] | None = None,
               display_name: str | None = None) -> User:
        self._check(username, role, teams)
        if self.get(username) is None:
            raise UserError(f"no user {username!r} (list them with `users list`)")
        with self.store.engine.begin() as conn:
            if role is not None:
                conn.execute(text("UPDATE users SET role = :r, updated_at = :t WHERE username = :u"),
                             {"r": role, "t": utcnow(), "u": username})
            if display_name is not None:
                conn.execute(text("UPDATE users SET display_name = :d, updated_at = :t WHERE username = :u"),
                             {"d": display_name or None, "t": utcnow(), "u": username})
            if teams is not None:
                self._set_teams(conn, username, teams)
        return self.get(username)

    def remove(self, username: str) -> int:
        """Delete the account; the calls it made stay in the store. Returns how many calls it has."""
        with self.store.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM users WHERE username = :u"), {"u": username})
            if not result.rowcount:
                raise UserError(f"no user {username!r} (list them with `users list`)")
            conn.execute(text("DELETE FROM team_members WHERE username = :u"), {"u": username})
            return int(conn.execute(text("SELECT COUNT(*) FROM sessions WHERE trainee = :u"), {"u": username}).scalar() or 0)

    @staticmethod
    def _set_teams(conn, username: str, teams: list[str]) -> None:
        conn.execute(text("DELETE FROM team_members WHERE username = :u"), {"u": username})
        for team in dict.fromkeys(t.strip() for t in teams if t.strip()):
            if conn.execute(text("SELECT 1 FROM teams WHERE name = :n"), {"n": team}).first() is None:
                conn.execute(text("INSERT INTO teams (name, created_at) VALUES (:n, :t)"), {"n": team, "t": utcnow()})
            conn.execute(text("INSERT INTO team_members (team, username) VALUES (:n, :u)"), {"n": team, "u": username})
