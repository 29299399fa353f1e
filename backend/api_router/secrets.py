"""``secrets.json``: the gateway token, provider keys and usage tokens.

Readers get an immutable snapshot; writers go through ``SecretsFile.edit`` so every change is one
atomic 0600 write. Nothing in here ever logs a secret; ``Redactor`` scrubs them from any text that
may leave the process (events, request log, error messages).
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from api_router.fsutil import atomic_write, file_stamp, move_aside, remove_stale_temp_files

LEGACY_TOKEN_KEY = "__gateway_token__"
TOKEN_RE = re.compile(r"^ao_[0-9a-f]{32}$")


def new_gateway_token() -> str:
    return "ao_" + _random.token_hex(16)


def mask(value: str) -> str:
    """A preview that identifies a key without revealing it: ``sk-a…9f2c``."""
    if not value:
        return ""
    if len(value) < 12:
        return "•" * 4
    return f"{value[:4]}…{value[-4:]}"


@dataclass(frozen=True)
class Secrets:
    gateway_token: str
    provider_keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    usage_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        return {
            "gateway_token": self.gateway_token,
            "providers": dict(self.provider_keys),
            "usage_tokens": dict(self.usage_tokens),
        }

    def with_changes(self, **changes: Any) -> Secrets:
        for name in ("provider_keys", "usage_tokens"):
            if name in changes:
                changes[name] = MappingProxyType(dict(changes[name]))
        return replace(self, **changes)


@dataclass(frozen=True)
class SecretsReport:
    problems: tuple[str, ...] = ()
    moved_to: Path | None = None
    created: bool = False
    migrated: bool = False


def _string_map(value: Any) -> tuple[dict[str, str], bool]:
    """The valid ``str -> non-empty str`` entries of ``value`` and whether anything was dropped."""
    if not isinstance(value, dict):
        return {}, value is not None
    good = {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str) and v}
    return good, len(good) != len(value)


def parse(data: Any) -> tuple[Secrets, list[str], bool]:
    """(secrets, problems, migrated) from the decoded JSON; a missing token gets a fresh one."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return Secrets(new_gateway_token()), ["secrets.json is not a JSON object"], False
    providers, dropped = _string_map(data.get("providers"))
    if dropped:
        problems.append("secrets.json: some provider keys were not strings and were dropped")
    usage, dropped = _string_map(data.get("usage_tokens"))
    if dropped:
        problems.append("secrets.json: some usage tokens were not strings and were dropped")
    migrated = False
    token = data.get("gateway_token")
    legacy = providers.pop(LEGACY_TOKEN_KEY, None)
    if not isinstance(token, str) or not token:
        if token is not None:
            problems.append("secrets.json: gateway_token was not a string; a new token was created")
        token = legacy or new_gateway_token()
        migrated = legacy is not None
    elif legacy is not None:
        migrated = True
    return Secrets(token, MappingProxyType(providers), MappingProxyType(usage)), problems, migrated


class SecretsFile:
    """Owns ``secrets.json``: one current snapshot for readers, atomic 0600 writes for writers. Like
    config.toml, the file may be edited while the app runs (``reload``)."""

    def __init__(self, path: Path, current: Secrets) -> None:
        self.path = path
        self._current = current
        self._lock = threading.Lock()
        self._stamp = file_stamp(path)
        self._reported: object = None
        self.listeners: list[Callable[[Secrets], None]] = []
        self.on_problem: Callable[[str], None] = lambda message: None
        self.on_notice: Callable[[str], None] = lambda message: None

    @property
    def current(self) -> Secrets:
        return self._current

    @classmethod
    def load(cls, path: Path) -> tuple[SecretsFile, SecretsReport]:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path.parent, path.name)
        if not path.exists():
            store = cls(path, Secrets(new_gateway_token()))
            store._save(store._current)
            return store, SecretsReport(created=True)
        try:
            data = json.loads(path.read_bytes().decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            moved = move_aside(path)
            store = cls(path, Secrets(new_gateway_token()))
            store._save(store._current)
            why = (
                f"secrets.json could not be read ({type(exc).__name__}); it was moved to {moved.name}. "
                "A new gateway token was created: update Codex's auth.json, and re-enter provider keys "
                "(or copy them back from the moved file)"
            )
            return store, SecretsReport(problems=(why,), moved_to=moved)
        current, problems, migrated = parse(data)
        moved = None
        if problems and isinstance(data, dict):
            # Keep the original for the user before we write the salvaged version over it.
            moved = move_aside(path, "invalid")
            problems.append(f"the original secrets.json was kept as {moved.name}")
        elif problems:
            moved = move_aside(path)
        store = cls(path, current)
        if problems or migrated:
            store._save(current)
        else:
            _tighten_mode(path)
        return store, SecretsReport(problems=tuple(problems), moved_to=moved, migrated=migrated)

    def edit(self, change: Callable[[Secrets], Secrets]) -> Secrets:
        """Apply ``change`` to the file as it is now (a hand edit made meanwhile is kept) and save it."""
        with self._lock:
            updated = change(self._base_for_edit())
            self._save(updated)
            self._current = updated
        self._publish(updated)
        return updated

    def reload(self) -> bool:
        """Pick up a hand edit of the file; True when new secrets are in use."""
        with self._lock:
            stamp = file_stamp(self.path)
            if stamp is None or stamp == self._stamp:
                return False
            read = self._read_disk()
            if isinstance(read, str):
                if stamp != self._reported:
                    self._reported = stamp
                    self.on_problem(f"secrets.json was edited but {read}; API Router keeps the keys it had. Fix "
                                    "the file, or the next change made in the app moves it aside.")
                return False
            self._current, self._stamp, self._reported = read, stamp, None
        self.on_notice("secrets.json was edited; the new keys are in use")
        self._publish(read)
        return True

    def _read_disk(self) -> Secrets | str:
        try:
            data = json.loads(self.path.read_bytes().decode("utf-8-sig"))
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        except (ValueError, UnicodeDecodeError) as exc:
            return f"is not valid JSON ({type(exc).__name__})"
        current, problems, _ = parse(data)
        if problems:
            return "; ".join(problems)
        return current

    def _base_for_edit(self) -> Secrets:
        if file_stamp(self.path) == self._stamp:
            return self._current
        read = self._read_disk() if self.path.exists() else "is missing"
        if isinstance(read, str):
            if self.path.exists():
                moved = move_aside(self.path)
                self.on_problem(f"secrets.json {read}; it was moved to {moved.name} and the change was saved on "
                                "top of the last good keys")
            return self._current
        return read

    def _save(self, value: Secrets) -> None:
        atomic_write(self.path, (json.dumps(value.to_json(), indent=2) + "\n").encode(), mode=0o600)
        self._stamp = file_stamp(self.path)

    def _publish(self, value: Secrets) -> None:
        for listener in self.listeners:
            listener(value)

    # --- per-provider state: keys and usage tokens follow renames and deletes ---------------------------

    def rename(self, old: str, new: str) -> None:
        self.edit(lambda s: s.with_changes(provider_keys=_renamed(s.provider_keys, old, new),
                                           usage_tokens=_renamed(s.usage_tokens, old, new)))

    def forget(self, provider: str) -> None:
        self.edit(lambda s: s.with_changes(provider_keys=_without(s.provider_keys, provider),
                                           usage_tokens=_without(s.usage_tokens, provider)))


def _renamed(mapping: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    return {new if k == old else k: v for k, v in mapping.items()}


def _without(mapping: Mapping[str, str], pid: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k != pid}



def _tighten_mode(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class Redactor:
    """Replaces every known secret in a text (or in bytes about to leave for a client) with its
    masked preview."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        self._bytes: tuple[tuple[bytes, bytes], ...] = ()

    def update(self, current: Secrets) -> None:
        values = {current.gateway_token, *current.provider_keys.values(), *current.usage_tokens.values()}
        # Longest first, so a key that contains another is replaced whole.
        self._values = tuple(sorted((v for v in values if len(v) >= 6), key=len, reverse=True))
        self._bytes = tuple((v.encode(), mask(v).encode()) for v in self._values)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in self._values:
            if value in text:
                text = text.replace(value, mask(value))
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        for value, masked in self._bytes:
            if value in data:
                data = data.replace(value, masked)
        return data
