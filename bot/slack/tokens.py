"""The workspaces' bot tokens at rest: encrypted with Fernet (AES-128-CBC and HMAC-SHA256,
from `cryptography`) under TOKEN_ENCRYPTION_KEY before the store sees them.

The setting may list several keys, separated by commas: the first encrypts, every one
decrypts. Rotating the key is listing the new one first and the old one after it, running
`isscr-news-bot rotate-key` (which re-encrypts every stored token with the first), then
dropping the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.models import Installation


class WrongKey(Exception):
    """A stored token none of the keys decrypts: it was encrypted under another key."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class TokenCipher:
    """Encrypts and decrypts bot tokens; never shows them (no repr of its keys)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def __repr__(self) -> str:
        return "TokenCipher(keys hidden)"

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise WrongKey("the token was encrypted with another key") from None

    def rotate(self, stored: str) -> str:
        """`stored` encrypted again with the first key (WrongKey when no key decrypts it)."""
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise WrongKey("the token was encrypted with another key") from None


def unreadable(cipher: TokenCipher, installations: Iterable[Installation]) -> list[str]:
    """The teams whose stored token none of the keys decrypts."""
    teams = []
    for installation in installations:
        try:
            cipher.decrypt(installation.encrypted_token)
        except WrongKey:
            teams.append(installation.team)
    return teams
