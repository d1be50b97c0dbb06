"""People who sign in to the review app, and their signed-in browsers.

Passwords are hashed with Argon2id; a browser holds a random token whose SHA-256 alone is stored, with a
CSRF token and an expiry. Nothing here logs a password, a token or a hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from voicechart.errors import VoicechartError
from voicechart.journal.tables import UserRow, WebSessionRow, utcnow

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from voicechart.journal.store import Journal

ROLES = ("hygienist", "dentist", "clinic_lead", "admin")
REVIEWERS = frozenset({"clinic_lead", "admin"})  # may correct any exam
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    prov_num: int

    @property
    def reviews_all(self) -> bool:
        return self.role in REVIEWERS

    def may_correct(self, exam_prov_num: int) -> bool:
        """The clinic lead and the admin correct any exam; a hygienist or dentist only what they dictated."""
        return self.reviews_all or (self.prov_num != 0 and self.prov_num == exam_prov_num)


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    csrf_token: str
    expires_at: dt.datetime


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)  # argon2-cffi's RFC 9106 low-memory profile


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_hex(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.role, row.prov_num)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise VoicechartError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class Accounts:
    """Users and web sessions, kept in the journal's database."""

    def __init__(self, journal: Journal) -> None:
        self._sessions = sessionmaker(journal.engine, expire_on_commit=False)

    # --- users ---------------------------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, *, prov_num: int = 0) -> User:
        name = name.strip()
        if not name or len(name) > 100:
            raise VoicechartError("a user name is 1 to 100 characters")
        if role not in ROLES:
            raise VoicechartError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        check_password(password)
        with self._sessions() as s, s.begin():
            if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise VoicechartError(f"there is already a user named {name!r}")
            row = UserRow(name=name, role=role, password_hash=_hasher().hash(password), prov_num=prov_num)
            s.add(row)
            s.flush()
            return _user(row)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self._sessions() as s, s.begin():
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise VoicechartError(f"no user named {name!r}")
            row.password_hash = _hasher().hash(password)
            s.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))

    def set_disabled(self, name: str, disabled: bool) -> None:
        with self._sessions() as s, s.begin():
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise VoicechartError(f"no user named {name!r}")
            row.disabled = disabled
            if disabled:
                s.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))

    def all(self) -> list[tuple[User, bool]]:
        with self._sessions() as s:
            return [(_user(r), r.disabled) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def by_prov_num(self) -> dict[int, str]:
        with self._sessions() as s:
            return {r.prov_num: r.name for r in s.scalars(select(UserRow).where(UserRow.prov_num != 0))}

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is theirs (and they are not disabled). Takes as long for an unknown
        name as for a wrong password."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with self._sessions() as s, s.begin():
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            try:
                _hasher().verify(row.password_hash if row else _dummy_hash(), password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None or row.disabled:
                return None
            if _hasher().check_needs_rehash(row.password_hash):
                row.password_hash = _hasher().hash(password)
            return _user(row)

    # --- signed-in browsers --------------------------------------------------------------------------------
    def open_session(self, user: User, *, hours: float) -> tuple[str, SignedIn]:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = utcnow() + dt.timedelta(hours=hours)
        with self._sessions() as s, s.begin():
            s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < utcnow()))
            s.add(
                WebSessionRow(
                    token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, expires_at=expires
                )
            )
        return token, SignedIn(user, csrf, expires)

    def session(self, token: str) -> SignedIn | None:
        if not token or len(token) > 200:
            return None
        with self._sessions() as s:
            found = s.execute(
                select(WebSessionRow, UserRow)
                .join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == _token_hash(token))
            ).first()
            if found is None:
                return None
            web, user = found
            expires = web.expires_at if web.expires_at.tzinfo else web.expires_at.replace(tzinfo=dt.UTC)
            if expires <= utcnow() or user.disabled:
                return None
            return SignedIn(_user(user), web.csrf_token, expires)

    def close_session(self, token: str) -> None:
        with self._sessions() as s, s.begin():
            s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == _token_hash(token)))
