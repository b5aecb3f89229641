"""Users kept in Redis with bcrypt password hashes and a role."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import bcrypt
import redis

from . import keys
from .errors import Conflict, InvalidInput, NotFound
from .redis_text import decode

__all__ = ["User", "UserStore", "ROLES", "DEMO_USER"]

ROLES = ("admin", "user")
DEMO_USER = "demo"
MAX_USERNAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
# A fixed hash to compare against when the user does not exist, so a wrong
# username costs the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=12))


@dataclass(frozen=True)
class User:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _validate_name(username: str) -> None:
    if not (1 <= len(username) <= MAX_USERNAME_LENGTH) or not all(c.isalnum() or c in "-_." for c in username):
        raise InvalidInput(f"username must be 1-{MAX_USERNAME_LENGTH} letters, digits, '-', '_' or '.'",
                           code="invalid_username", details={"field": "username"})


class UserStore:
    def __init__(self, client: redis.Redis, rounds: int = 12) -> None:
        self.client = client
        self.rounds = rounds

    def add(self, username: str, password: str, role: str = "user", *, replace: bool = False) -> User:
        _validate_name(username)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {ROLES}", code="invalid_role", details={"field": "role"})
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters", code="weak_password",
                               details={"field": "password"})
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=self.rounds)).decode()
        key = keys.user(username)
        # HSETNX makes creation atomic: two API processes creating the same user race safely.
        if not replace and not self.client.hsetnx(key, "password", hashed):
            raise Conflict(f"user {username} exists", code="user_exists")
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={"password": hashed, "role": role})
        pipe.sadd(keys.users(), username)
        pipe.execute()
        return User(username, role)

    def ensure(self, username: str, password: str, role: str = "user") -> None:
        """Create the user unless it exists (the development demo user)."""
        with contextlib.suppress(Conflict):
            self.add(username, password, role)

    def get(self, username: str) -> User | None:
        return self.user_from(username, self.client.hget(keys.user(username), "role"))

    @staticmethod
    def read(pipe: redis.client.Pipeline, username: str) -> None:
        """Queue the read :meth:`get` makes on ``pipe`` (one round trip with the caller's other reads);
        :meth:`user_from` turns its reply into the user."""
        pipe.hget(keys.user(username), "role")

    @staticmethod
    def user_from(username: str, raw: Any) -> User | None:
        return User(username, decode(raw)) if raw is not None else None

    def authenticate(self, username: str, password: str) -> User | None:
        stored = self.client.hget(keys.user(username), "password") if username else None
        hashed = (stored.encode() if isinstance(stored, str) else stored) or _DUMMY_HASH
        ok = bcrypt.checkpw(password.encode(), hashed)
        if not ok or stored is None:
            return None
        return self.get(username)

    def remove(self, username: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.user(username))
        pipe.srem(keys.users(), username)
        deleted, _ = pipe.execute()
        if not deleted:
            raise NotFound(f"user {username} not found", code="user_not_found")

    def list(self) -> list[User]:
        names = sorted(decode(n) for n in self.client.smembers(keys.users()))
        return [u for u in (self.get(n) for n in names) if u is not None]


