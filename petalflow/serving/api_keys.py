"""API keys: reading them (API_KEYS, API_KEYS_FILE), which paths need one, checking a request.

Keys stay ``SecretStr`` until the guard keeps only their SHA-256 digests. A request's token
is hashed and compared with every digest (``hmac.compare_digest``, no early exit), so the
timing shows neither which key matched nor how long the keys are; no message, log line or
repr ever holds a key, or a piece of one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

from pydantic import SecretStr

from petalflow.core.errors import MissingApiKeyError, WrongApiKeyError

MIN_KEY_LENGTH = 16
#: Once keys are set, these paths and everything under them need one: what writes
#: (feedback moves the live accuracy; /admin changes what is served).
PROTECTED_ROOTS = ("/admin", "/feedback")
#: With PROTECT_PREDICT=true, these too (/predict/batch is under /predict).
PREDICTION_ROOTS = ("/predict", "/invocations")
_GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def check_key(key: str, where: str) -> None:
    """Refuse a key a client could not send intact, or that is too easy to guess.

    ``where`` names it ("API_KEYS: key 2"); the message never quotes the key.
    """
    problem = None
    if any(character.isspace() for character in key):
        problem = "has whitespace inside"
    elif not all("!" <= character <= "~" for character in key):
        problem = "has a character that is not printable ASCII"
    elif "," in key:
        problem = "has a comma (the separator of API_KEYS)"
    elif key.startswith("#"):
        problem = "starts with # (a comment line in API_KEYS_FILE)"
    elif len(key) < MIN_KEY_LENGTH:
        problem = f"is shorter than {MIN_KEY_LENGTH} characters"
    if problem is not None:
        rule = f"keys are {MIN_KEY_LENGTH}+ printable ASCII characters without spaces or commas"
        raise ValueError(f"{where} {problem}; {rule}, e.g. from `{_GENERATE}`")


def parse_keys(text: str) -> tuple[SecretStr, ...]:
    """The keys of an API_KEYS value: comma-separated, spaces around each ignored.

    A blank value is no key (API_KEYS unset); one with only commas is refused.
    """
    if not text.strip():
        return ()
    items = [item.strip() for item in text.split(",")]
    keys = []
    for number, item in enumerate(items, start=1):
        if item:  # "a, b," : empty items between commas are skipped
            check_key(item, f"API_KEYS: key {number}")
            keys.append(SecretStr(item))
    if not keys:
        raise ValueError("API_KEYS holds no key, only commas; set keys or unset it")
    return tuple(keys)


def read_keys_file(path: Path) -> tuple[SecretStr, ...]:
    """The keys of API_KEYS_FILE: one a line; blank lines and lines starting with # are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # its message would quote a byte of the file: not shown
        raise ValueError(f"API_KEYS_FILE: {path} is not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"API_KEYS_FILE: cannot read {path}: {reason}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if key and not key.startswith("#"):
            check_key(key, f"API_KEYS_FILE: line {number} of {path}")
            keys.append(SecretStr(key))
    if not keys:
        raise ValueError(
            f"API_KEYS_FILE: {path} holds no key; write one key a line "
            "(blank lines and lines starting with # are skipped)"
        )
    return tuple(keys)


def configured_keys(
    api_keys: SecretStr | None, api_keys_file: Path | None, protect_predict: bool
) -> tuple[SecretStr, ...]:
    """The keys of API_KEYS or API_KEYS_FILE (never both); () when neither is set."""
    inline = parse_keys(api_keys.get_secret_value()) if api_keys is not None else ()
    if inline and api_keys_file is not None:
        raise ValueError("API_KEYS and API_KEYS_FILE are both set; set one of them")
    keys = inline or (read_keys_file(api_keys_file) if api_keys_file is not None else ())
    if protect_predict and not keys:
        raise ValueError("PROTECT_PREDICT=true needs keys: set API_KEYS or API_KEYS_FILE")
    return keys


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _uncounted(reason: str) -> None:
    """The default failure observer: counts nothing."""


class KeyGuard:
    """Which paths need a key, and whether a request's ``Authorization`` header has one."""

    __slots__ = ("_digests", "_exact", "_observe", "_prefixes", "roots")

    def __init__(
        self,
        keys: Iterable[SecretStr],
        protect_predict: bool = False,
        on_failure: Callable[[str], None] = _uncounted,
    ) -> None:
        self._digests = tuple(_digest(key.get_secret_value().encode()) for key in keys)
        if not self._digests:
            raise ValueError("a KeyGuard needs at least one key")
        self.roots = PROTECTED_ROOTS + (PREDICTION_ROOTS if protect_predict else ())
        self._exact = frozenset(self.roots)
        self._prefixes = tuple(f"{root}/" for root in self.roots)
        self._observe = on_failure

    @property
    def key_count(self) -> int:
        """How many keys are accepted."""
        return len(self._digests)

    def protects(self, path: str) -> bool:
        """Whether ``path`` (percent-decoded, as routed) needs a key."""
        return path in self._exact or path.startswith(self._prefixes)

    def check(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Return when the headers carry one configured key; else raise 401 or 403."""
        values = [value for name, value in headers if name == b"authorization"]
        if not values:
            self._refuse("missing", "this endpoint needs an API key")
        scheme, _, token = bytes(values[0]).partition(b" ")
        token = token.strip(b" \t")
        usable = (
            scheme.lower() == b"bearer" and bool(token) and b" " not in token and b"\t" not in token
        )
        if len(values) > 1 or not usable:
            self._refuse("malformed", "the Authorization header is not `Bearer <key>`")
        digest = _digest(token)
        matched = False
        for known in self._digests:  # every key, every time: no early exit
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            self._observe("wrong_key")
            message = "this API key is not accepted here; send one of the server's keys"
            detail = {"field": "Authorization", "rule": "wrong_key", "message": message}
            raise WrongApiKeyError(message, [detail])

    def _refuse(self, reason: str, problem: str) -> NoReturn:
        self._observe(reason)
        message = f"{problem}; send the header `Authorization: Bearer <key>`"
        detail = {"field": "Authorization", "rule": reason, "message": message}
        raise MissingApiKeyError(message, [detail])
