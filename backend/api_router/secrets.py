"""``secrets.json``: the gateway token, provider keys and usage tokens.

Readers get an immutable snapshot; writers go through ``SecretsFile.edit`` so every change is one
atomic 0600 write. Nothing in here ever logs a secret; ``Redactor`` scrubs them from any text that
may leave the process (events, request log, error messages).
"""

from __future__ import annotations

import json
import re
import secrets as _random
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast
from urllib.parse import quote, quote_plus, urlsplit

from api_router.fsutil import is_read_only, move_aside, read_file, remove_stale_temp_files, tighten
from api_router.texts import listed, quoted, shortened
from api_router.userfile import UserFile

LEGACY_TOKEN_KEY = "__gateway_token__"
TOKEN_RE = re.compile(r"^ao_[0-9a-f]{32}$")


def new_gateway_token() -> str:
    return "ao_" + _random.token_hex(16)


def mask(value: str) -> str:
    """A preview that identifies a key without revealing it: ``sk-a…9f2c``. At least 12 characters stay
    hidden, so a short key shows less (or nothing) rather than most of itself."""
    if len(value) < 16:
        return "•" * 4 if value else ""
    if len(value) < 20:
        return f"…{value[-4:]}"
    return f"{value[:4]}…{value[-4:]}"


class MoveKind(Enum):
    RENAME = "rename"
    DELETE = "delete"


@dataclass(frozen=True)
class PendingMove:
    """A provider's keys on their way: renamed from ``provider`` to ``to``, or deleted (``to`` None)."""

    kind: MoveKind
    provider: str
    to: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "provider": self.provider, **({"to": self.to} if self.to else {})}

    @classmethod
    def from_json(cls, data: Any) -> PendingMove | None:
        """None for anything but a move this version writes (a hand edit of it is left as an entry)."""
        if not isinstance(data, dict) or not isinstance(data.get("provider"), str):
            return None
        kind, to = data.get("kind"), data.get("to")
        if kind == MoveKind.RENAME.value and isinstance(to, str):
            return cls(MoveKind.RENAME, data["provider"], to)
        if kind == MoveKind.DELETE.value and to is None:
            return cls(MoveKind.DELETE, data["provider"])
        return None


@dataclass(frozen=True)
class Secrets:
    gateway_token: str
    provider_keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    usage_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Entries of the file that are none of the above (a note, a misspelt section): unused, but the user's,
    # so written back as they are.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # A rename or delete under way, written with its first step and cleared by its last: one cut short (the
    # app killed between the file writes) is finished or undone at the next start (``SecretsFile.settle``).
    pending: PendingMove | None = None

    def secret_values(self) -> set[str]:
        """Every secret the file holds: the gateway token, the provider keys, the usage tokens."""
        return {self.gateway_token, *self.provider_keys.values(), *self.usage_tokens.values()}

    def to_json(self) -> dict[str, Any]:
        out = {
            "gateway_token": self.gateway_token,
            "providers": dict(self.provider_keys),
            "usage_tokens": dict(self.usage_tokens),
            **self.extra,
        }
        if self.pending is not None:  # the app's own note, over one of the user's it could not read
            out[_PENDING] = self.pending.to_json()
        return out

    def with_changes(self, **changes: Any) -> Secrets:
        for name in ("provider_keys", "usage_tokens"):
            if name in changes:
                changes[name] = MappingProxyType(dict(changes[name]))
        return replace(self, **changes)


@dataclass(frozen=True)
class SecretsReport:
    problems: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # entries the file has that name nothing API Router uses (kept as they are)
    moved_to: Path | None = None
    created: bool = False  # a new gateway token was made and saved (a new file, or one without a token)
    migrated: bool = False


@dataclass(frozen=True)
class Parsed:
    secrets: Secrets
    problems: list[str]
    migrated: bool = False  # the token was under the provider keys (legacy)
    token_missing: bool = False  # the file had none: ``secrets`` holds a fresh one
    token_made: bool = False  # ``secrets`` holds a fresh token (none usable in the file, nor a legacy one)


SECRET_MAX = 4096  # characters of a key or token


SECRET_RULE = ("printable ASCII characters only, with no spaces, line breaks, control characters or letters "
               "outside ASCII")


def secret_problem(value: str) -> str | None:
    """Why a key or token (with no space around it) cannot be used, or None. It goes in an HTTP header as
    it is: HTTP clients refuse anything but printable ASCII there (httpx, which checks usage, takes ASCII
    only), a space splits "Bearer <key>" into something no provider reads (and one at either end is
    dropped on the way: a token with one could never match), and a header line holds about 8 KB (aiohttp's
    limit: 8,190 bytes)."""
    if not value:
        return "must not be empty"
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        return f"must be {SECRET_RULE}"
    if len(value) > SECRET_MAX:
        return f"is {len(value):,} characters long: at most {SECRET_MAX:,}"
    return None


def _string_map(value: Any, field: str, what: str) -> tuple[dict[str, str], str | None]:
    """The usable ``id -> secret`` entries of ``value`` (a space or line break around one, as pasted, left
    out), and what is wrong with the others."""
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return {}, f"{field} is not an object of provider ids and {what}"
    good = {k: v.strip() for k, v in value.items()
            if isinstance(k, str) and isinstance(v, str) and secret_problem(v.strip()) is None}
    bad = [k for k in value if k not in good]
    if not bad:
        return good, None
    return good, (f"the {what} for {listed(bad)} cannot be used: {what} are strings of at most {SECRET_MAX:,} "
                  f"{SECRET_RULE}")


_KNOWN = ("gateway_token", "providers", "usage_tokens")
_PENDING = "pending"


def ignored_entries(secrets: Secrets) -> list[str]:
    """A sentence for each entry of the file that API Router does not use: a misspelt ``usage_tokens``
    would otherwise leave a usage token unused without a word."""
    if not secrets.extra:
        return []
    import difflib  # only for a file that has such an entry: not worth its memory in every running gateway

    out = []
    for key in secrets.extra:
        if key == _PENDING:
            out.append("secrets.json: pending is not a rename or delete of a provider that API Router wrote; it is "
                       "kept in the file but not used")
            continue
        close = difflib.get_close_matches(key, _KNOWN, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(f"secrets.json: {key} is not an entry API Router knows; it is kept in the file but not used{hint}")
    return out


def parse(data: Any) -> Parsed:
    """The secrets in the decoded JSON, and what is wrong with it (phrases that follow the file's name);
    a missing token gets a fresh one."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return Parsed(Secrets(new_gateway_token()), ["is not a JSON object"], token_made=True)
    providers, problem = _string_map(data.get("providers"), "providers", "provider keys")
    problems += [problem] if problem else []
    usage, problem = _string_map(data.get("usage_tokens"), "usage_tokens", "usage tokens")
    problems += [problem] if problem else []
    migrated = missing = made = False
    token = data.get("gateway_token")
    token = token.strip() if isinstance(token, str) else token
    legacy = providers.pop(LEGACY_TOKEN_KEY, None)
    if not isinstance(token, str) or secret_problem(token) is not None:
        if token is not None:
            problems.append(f"gateway_token is not a string of at most {SECRET_MAX:,} {SECRET_RULE}")
        missing = token is None and legacy is None
        migrated = legacy is not None
        made = not migrated
        token = legacy or new_gateway_token()
    elif legacy is not None:
        migrated = True
    pending = PendingMove.from_json(data.get("pending"))
    extra = MappingProxyType({k: v for k, v in data.items()
                              if k not in _KNOWN and not (k == _PENDING and pending is not None)})
    return Parsed(Secrets(token, MappingProxyType(providers), MappingProxyType(usage), extra, pending), problems,
                  migrated, missing, made)


class DuplicateKey(ValueError):
    """A name written twice in one object of secrets.json. JSON readers keep the last one, so the first
    (a provider's keys, say) would be dropped without a word and gone at the next save."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise DuplicateKey(f"{quoted(name)} is written twice")
        out[name] = value
    return out


def _json(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_unique)


def _unreadable(exc: Exception) -> str:
    """Why the file could not be read, where, without quoting it (a parser's message may show a key)."""
    if isinstance(exc, DuplicateKey):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError):  # its msg is one of the parser's fixed phrases, some ending "at"
        return f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):  # UTF-16 from Notepad, say
        return f"not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start}; save it as UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if "integer string conversion" in str(exc):  # Python reads no number of more than 4300 digits
        return "a number with too many digits"
    return "it could not be parsed"


class SecretsFile(UserFile[Secrets]):
    """Owns ``secrets.json``: one current snapshot for readers, atomic 0600 writes for writers. Like
    config.toml, the file may be edited while the app runs (``reload``)."""

    label = "secrets.json"
    kept = "keys"

    def __init__(self, path: Path, current: Secrets) -> None:
        super().__init__(path, current)
        self.listeners: list[Callable[[Secrets], None]] = []

    @property
    def current(self) -> Secrets:
        return self._value

    @classmethod
    def load(cls, path: Path) -> tuple[SecretsFile, SecretsReport]:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path)
        if not path.exists():
            store = cls(path, Secrets(new_gateway_token()))
            store._write(store.current)
            return store, SecretsReport(created=True)
        try:
            data = _json(read_file(path))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            if is_read_only(path):  # the user's to fix: left as it is
                why = (f"secrets.json could not be read ({_unreadable(exc)}); it is read-only, so it was left as it "
                       "is. A new gateway token is in use until it is fixed: update Codex's auth.json, and set "
                       "provider keys in the file")
                store = cls(path, Secrets(new_gateway_token()))
                store._left_unusable()
                return store, SecretsReport(problems=(why,))
            unreadable = move_aside(path)
            store = cls(path, Secrets(new_gateway_token()))
            store._write(store.current)
            why = (
                f"secrets.json could not be read ({_unreadable(exc)}); it was moved to {unreadable.name}. "
                "A new gateway token was created: update Codex's auth.json, and re-enter provider keys "
                "(or copy them back from the moved file)"
            )
            return store, SecretsReport(problems=(why,), moved_to=unreadable)
        parsed = parse(data)
        current, migrated = parsed.secrets, parsed.migrated
        problems = [f"secrets.json: {problem}" for problem in parsed.problems]
        if problems and parsed.token_made:
            problems.append("a new gateway token was created: update Codex's auth.json (Connect Codex does it)")
        moved: Path | None = None
        read_only = is_read_only(path)
        if problems and read_only:
            problems.append("the file is read-only, so it was left as it is and only what could be used is in use")
        elif problems and isinstance(data, dict):
            # Keep the original for the user before we write the salvaged version over it.
            moved = move_aside(path, "invalid")
            problems.append(f"what could not be used was left out; the original secrets.json was kept as "
                            f"{moved.name}")
        elif problems:
            moved = move_aside(path)
        store = cls(path, current)
        # A token made for a file without one is saved there at once: used but written nowhere, it would
        # change at every start and leave Codex's auth.json behind each time.
        if read_only:  # the user's file as it is: what is in use is in memory only
            if problems:
                store._left_unusable()
            elif parsed.token_missing:
                store._left_unusable()
                problems.append("secrets.json has no gateway_token and is read-only: a new token is in use for "
                                "this run only; make the file writable to keep one")
            tighten(path)
        elif problems or migrated or parsed.token_missing:
            store._write(current)
        else:
            tighten(path)
        return store, SecretsReport(problems=tuple(problems), ignored=tuple(ignored_entries(current)), moved_to=moved,
                                    created=parsed.token_missing, migrated=migrated)

    def edit(self, change: Callable[[Secrets], Secrets]) -> Secrets:
        """Apply ``change`` to the file as it is now (a hand edit made meanwhile is kept) and save it."""
        self.catch_up()
        with self._lock:
            updated = self._save(change)
        self._publish()
        return updated

    def _decode(self, raw: bytes) -> Secrets | str:
        try:
            data = _json(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return f"is not valid JSON ({_unreadable(exc)})"
        parsed = parse(data)
        if parsed.token_missing:  # a fresh token in its place would lock every client out
            return "has no gateway_token: put back the token in use (the app shows it)"
        return "has invalid values: " + "; ".join(parsed.problems) if parsed.problems else parsed.secrets

    def _encode(self, value: Secrets) -> bytes:
        return (json.dumps(value.to_json(), indent=2) + "\n").encode()  # ASCII: a lone surrogate in a note too

    def _ignored(self, value: Secrets) -> list[str]:
        return ignored_entries(value)

    def _published(self, value: Secrets) -> None:
        for listener in self.listeners:
            listener(value)

    # --- per-provider state: keys and usage tokens follow renames and deletes ---------------------------

    def rename(self, old: str, new: str) -> None:
        self.edit(lambda s: s.with_changes(provider_keys=_renamed(s.provider_keys, old, new),
                                           usage_tokens=_renamed(s.usage_tokens, old, new), pending=None))

    def forget(self, provider: str) -> None:
        self.edit(lambda s: s.with_changes(provider_keys=_without(s.provider_keys, provider),
                                           usage_tokens=_without(s.usage_tokens, provider), pending=None))

    def deleting(self, provider: str) -> None:
        """The first step of a delete: the keys stay until config.toml no longer has the provider (then
        ``forget``); written so that a delete cut short between the two is finished at the next start."""
        self.edit(lambda s: replace(s, pending=PendingMove(MoveKind.DELETE, provider)))

    def move_ended(self) -> None:
        """A rename or delete that could not be saved: nothing is on its way any more."""
        self.edit(lambda s: replace(s, pending=None))

    def settle(self, providers: Collection[str],
               finished: Callable[[str, str | None], None] = lambda old, new: None) -> str | None:
        """At start: a rename or delete cut short between its file writes (the app killed) is finished —
        or undone, when config.toml does not have it — so that each key is under the id it belongs to
        (a key left under another id would go to a provider added later under it). What was done, said.
        ``finished(old, new)``: told of a rename (a delete: ``new`` None) finished here, for the history."""
        move = self.current.pending
        if move is None:
            return None
        old, new = move.provider, move.to
        if new is not None and not self._copied(old, new):  # not the rename's copy under the new id: kept
            self.move_ended()
            return (f"A rename of provider {old} to {new} was noted in secrets.json, but {new} has a key of its own "
                    f"there; both were left as they are")
        if new is not None and new in providers and old not in providers:
            self.rename(old, new)
            finished(old, new)
            return f"A rename of provider {old} to {new} was cut short; its key is now under {new} only"
        if new is not None and old in providers and new not in providers:
            self.forget(new)
            return f"A rename of provider {old} to {new} was cut short before it was saved; {old} keeps its key"
        if new is None and old not in providers:
            self.forget(old)
            finished(old, None)
            return f"A delete of provider {old} was cut short; its key is removed as well"
        self.move_ended()
        return None

    def readdressed(self, provider: str) -> None:
        """Nothing here was learnt through the provider's address or key: the key is what changed."""

    def _copied(self, old: str, new: str) -> bool:
        """Whether what ``new`` holds is ``old``'s, as a rename's first step copies it (or nothing)."""
        s = self.current
        return all(mapping.get(new) in (None, mapping.get(old)) for mapping in (s.provider_keys, s.usage_tokens))

    def copy(self, old: str, new: str) -> None:
        """``old``'s key and usage token under ``new`` as well: the first step of a rename, so that a
        request routed to the new id while the rename is under way is not sent without its key."""
        self.edit(lambda s: s.with_changes(provider_keys=_copied(s.provider_keys, old, new),
                                           usage_tokens=_copied(s.usage_tokens, old, new),
                                           pending=PendingMove(MoveKind.RENAME, old, new)))


def _renamed(mapping: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    return {new if k == old else k: v for k, v in mapping.items()}


def _copied(mapping: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    # A key left under ``new`` (written by hand for a provider not configured) is not ``old``'s: it goes.
    return {**mapping, new: mapping[old]} if old in mapping else _without(mapping, new)


def _without(mapping: Mapping[str, str], pid: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k != pid}



_T = TypeVar("_T")


class Redactor:
    """Replaces every known secret in a text (or in bytes about to leave for a client) with its
    masked preview."""

    def __init__(self) -> None:
        self._values: tuple[tuple[str, str], ...] = ()
        self._percent: _PercentEncoded | None = None
        self._bytes: tuple[tuple[bytes, bytes], ...] = ()
        self._wide: tuple[tuple[bytes, bytes, int], ...] = ()
        self._secrets: set[str] = set()
        self._url_secrets: set[str] = set()
        # Secrets replaced or deleted while the app runs are still masked: a request sent with a key
        # before it was rotated or its provider deleted may bring it back in its answer afterwards.
        self._retired: set[str] = set()
        # Secrets and URL passwords change on different threads (secrets.json, config.toml): one
        # rebuild at a time, so the last one built holds both newest sets.
        self._lock = threading.Lock()

    def update(self, current: Secrets) -> None:
        with self._lock:
            secrets = current.secret_values()
            self._retired |= self._secrets - secrets
            self._secrets = secrets
            self._rebuild()

    def update_url_secrets(self, secrets: set[str]) -> None:
        """What provider URLs hold of a secret (``url_secrets``: a password, an ``?api-key=``) is one too."""
        with self._lock:
            self._retired |= self._url_secrets - secrets
            self._url_secrets = secrets
            self._rebuild()

    def _rebuild(self) -> None:
        values = self._secrets | self._url_secrets | self._retired
        # Longest first, so a key that contains another is replaced whole. Shorter than 6 characters
        # it would mask ordinary words and numbers everywhere (a URL's password, however short, is
        # masked where it stands: see _URL_IN_TEXT).
        kept = sorted((v for v in values if len(v) >= 6), key=len, reverse=True)
        # Each form masked as it is written, so a mask replacing an escaped key is escaped the same way
        # (JSON stays JSON).
        # One entry per form (a key with nothing to escape is written the same every way): each is a scan.
        forms: dict[str, str] = {}
        for v in kept:
            for write in _WRITINGS:
                forms.setdefault(write(v), write(mask(v)))
        self._values = tuple(forms.items())
        self._bytes = tuple((form.encode(), masked.encode()) for form, masked in self._values)
        escapable = [v for v in kept if not _UNRESERVED.issuperset(v)]
        self._percent = _PercentEncoded(escapable) if escapable else None
        # A body may also be UTF-16 or UTF-32 (an upstream's charset): the same keys in both byte orders,
        # each with the width of its code units.
        self._wide = tuple((form.encode(codec), masked.encode(codec), width) for form, masked in self._values
                           for codec, width in _WIDE_CODECS)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value, masked in self._values:
            if value in text:
                text = text.replace(value, masked)
        if self._percent is not None and "%" in text:
            text = self._percent.masked_text(text)
        if "@" in text and "://" in text:
            text = _URL_IN_TEXT.sub(rf"\1{MASKED_PASSWORD}@", text)
        return text

    def hidden(self) -> tuple[str, ...]:
        """Every value it masks (the secrets, URL passwords and retired ones, as long as it masks them),
        for a text that is cut before it is masked here: it is masked before the cut with these."""
        with self._lock:
            return tuple(sorted(v for v in self._secrets | self._url_secrets | self._retired if len(v) >= 6))

    def in_value(self, value: _T) -> _T:
        """``value`` — what a control call or ``/status`` answers — with every secret in its strings (and
        keys) masked: a key pasted where no key belongs (a display name, a model name) is not shown back.
        ``value`` itself when it holds none, found by one scan of it as JSON."""
        if not self._values:
            return value
        import orjson  # loaded with the gateway already

        from api_router.jsonbytes import refuses_surrogates, utf8_strings

        try:
            data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            if not refuses_surrogates(exc):
                raise
            value = utf8_strings(value)  # a path under a folder whose name is not UTF-8
            data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        return value if self.redact_bytes(data) == data else cast(_T, self._each_string(value))

    def _each_string(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self(k) if isinstance(k, str) else k: self._each_string(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._each_string(v) for v in value]
        return value

    def unmask_url_secrets(self, name: str, new: str, old: str) -> str:
        """A URL edited from the one ``shown_url`` showed: a piece of it still as shown there — the part
        before the path, a path segment at its place, a query parameter by its name — is that piece as
        saved, for the same account only (scheme, user, host, port), as a masked password is. A mask
        left anywhere else is refused: the secret it stood for is typed again."""
        shown = self.shown_url(old)
        # The secrets in it besides its password (that one is unmask_url's).
        masks = {masked for value, masked in self._values if value in mask_url(old)}
        if shown == old or not any(m in new for m in masks):
            return new
        # The account is judged once the pieces are restored: a user name that is the key shows masked.
        restored = _pieces_as_saved(new, shown, old)
        if _account(restored) != _account(old):
            restored = new
        if any(m in restored for m in masks):
            raise ValueError(f"{name}: a masked key stands for the one saved with the address as it was, at its "
                             "place in it; with another scheme, host, port or user name, or moved, type the key again")
        return restored

    def shown_url(self, url: str) -> str:
        """A base URL as it is shown: its password masked, and any key or token it holds (an Azure-style
        ``?api-key=``, a key in its path). Echoed back unchanged by an edit, it stands for the URL saved."""
        return self(mask_url(url))

    def redact_bytes(self, data: bytes) -> bytes:
        data = self._masked(data)
        if b"\x00" in data:  # a UTF-16 or UTF-32 body: its escapes are spelled out in its own width
            wide = self._wide_escapes_masked(data)
            if wide is not data:
                return wide
        return self._escapes_masked(data)

    def _escapes_masked(self, data: bytes) -> bytes:
        """JSON may spell a key's characters as escapes ("sk\\u002dabc"), which the client's parser turns
        back into the key. Spelled out, a key found is masked; else the bytes stay as they came."""
        if b"\\u" in data:
            plain = _PRINTABLE_ESCAPE.sub(_spelled_out, data)
            if plain != data:
                masked = self._masked(plain)
                if masked is not plain:
                    return masked
        return data

    def _wide_escapes_masked(self, data: bytes) -> bytes:
        """A key spelled with JSON escapes in a UTF-16 or UTF-32 body: read as UTF-8, masked as such,
        and written back in the body's own encoding (the bytes as they came when nothing was found)."""
        for codec, width in _WIDE_CODECS:
            marker = "\\u".encode(codec)
            at = data.find(marker)
            while at >= 0 and at % width:
                at = data.find(marker, at + 1)
            if at < 0:
                continue
            try:
                narrow = data.decode(codec, "surrogatepass").encode("utf-8", "surrogatepass")
            except UnicodeDecodeError:  # not this encoding after all
                continue
            masked = self._escapes_masked(narrow)
            if masked is not narrow:
                return masked.decode("utf-8", "surrogatepass").encode(codec, "surrogatepass")
        return data

    def _masked(self, data: bytes) -> bytes:
        for value, masked in self._bytes:
            if value in data:
                data = data.replace(value, masked)
        if self._percent is not None and b"%" in data:
            data = self._percent.masked_bytes(data)
        if b"\x00" in data:  # never in headers or UTF-8 text: only a UTF-16 or UTF-32 body pays for these
            for value, masked, width in self._wide:
                if value in data:
                    data = _replace_aligned(data, value, masked, width)
        if b"@" in data and b"://" in data:
            data = _URL_IN_BYTES.sub(rb"\1" + MASKED_PASSWORD.encode() + rb"@", data)
        return data


def _json_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _go_escaped(text: str) -> str:
    return _json_escaped(text).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# How a secret may be written where it comes back: as it stands; in a JSON string (a quote or backslash
# escaped — our own error bodies are JSON-encoded before they are masked); with "/" as "\\/" (PHP's
# default); with "&", "<", ">" as "\\u0026"… (Go's default — many relays are written in Go). A key of
# letters, digits and "-_" is written one way.
_WRITINGS: tuple[Callable[[str], str], ...] = (
    lambda text: text, _json_escaped, lambda text: _json_escaped(text).replace("/", "\\/"), _go_escaped,
    lambda text: _go_escaped(text).replace("/", "\\/"),
    # Percent-encoded, as an upstream echoes a URL or form it was sent ("+" "/" "=" as %2B %2F %3D, or
    # "+" for a space), with upper- or lower-case hex. (Encoded in part: see _PercentEncoded.)
    lambda text: quote(text, safe=""), lambda text: quote_plus(text, safe=""),
    lambda text: _lower_hex(quote(text, safe="")), lambda text: _lower_hex(quote_plus(text, safe="")))


# What no percent-encoder escapes (RFC 3986's unreserved characters): a key of only these is written one way.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def percent_tolerant(secret: str) -> str:
    """A pattern of ``secret`` with each character an encoder may escape written either way: as itself or
    percent-encoded, in either case of hex. Encoders differ in what they escape — Python's ``quote`` keeps
    "/", Go's ``PathEscape`` escapes only "/", a query encoder only "+" — so no list of writings is whole."""
    def either(ch: str) -> str:
        if ch in _UNRESERVED:
            return re.escape(ch)
        encoded = "".join("%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{b:02X}")
                          for b in ch.encode())
        return f"(?:{re.escape(ch)}|{encoded})"
    return "".join(map(either, secret))


class _PercentEncoded:
    """Secrets an upstream echoes percent-encoded in part (the whole encodings are among ``_WRITINGS``,
    masked in the same encoding): each found is replaced with its mask. Only text with a "%" is searched."""

    def __init__(self, secrets: list[str]) -> None:
        # One group per secret (percent_tolerant's own are not capturing): a match says whose it is — no
        # decoding of what matched, which a secret holding a "%" of its own (a URL's password) would defeat.
        pattern = "|".join(f"({percent_tolerant(secret)})" for secret in secrets)  # longest first, as given
        self._text = re.compile(pattern)
        self._bytes = re.compile(pattern.encode())
        self._masks = [mask(secret) for secret in secrets]
        self._masks_bytes = [m.encode() for m in self._masks]

    def masked_text(self, text: str) -> str:
        return self._text.sub(lambda m: self._masks[(m.lastindex or 1) - 1], text)

    def masked_bytes(self, data: bytes) -> bytes:
        return self._bytes.sub(lambda m: self._masks_bytes[(m.lastindex or 1) - 1], data)


def _lower_hex(text: str) -> str:
    return _PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), text)


_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


_WIDE_CODECS = (("utf-16-le", 2), ("utf-16-be", 2), ("utf-32-le", 4), ("utf-32-be", 4))


def _replace_aligned(data: bytes, old: bytes, new: bytes, width: int) -> bytes:
    """``old`` replaced where it starts a code unit (an offset that ``width`` divides): a byte off, the
    same bytes are the ends of other characters."""
    parts: list[bytes] = []
    start = i = 0
    while (i := data.find(old, i)) >= 0:
        if i % width:
            i += 1
            continue
        parts += [data[start:i], new]
        start = i = i + len(old)
    return b"".join([*parts, data[start:]]) if parts else data


# A JSON escape of a printable ASCII character (a key may hold any of them: "APIKey:APISecret", a quote
# written by PHP's JSON_HEX_QUOT as \u0022). Only after an even run of backslashes is it an escape:
# "\\u0073" is a backslash's text. The pattern begins with its literal, so the search skips ahead to each
# "\\u00"; the run of backslashes before it is counted only there (a pattern that may begin with them is
# tried at every byte: a second for a 24 MB event of escaped text).
_PRINTABLE_ESCAPE = re.compile(rb"\\u00([2-7][0-9a-fA-F])")


def _spelled_out(found: re.Match[bytes]) -> bytes:
    """The escaped character as a key's JSON-escaped form writes it: itself, except a quote or backslash,
    which stay escaped (as \\" and \\\\, so what the JSON says does not change). After an odd run of
    backslashes it is no escape but text ("\\\\u0041" says backslash, u0041), and stays as it is."""
    data, at = found.string, found.start()
    run = at
    while run and data[run - 1] == 0x5C:
        run -= 1
    char = int(found.group(1), 16)
    if (at - run) % 2 or char == 0x7F:
        return found.group(0)
    return b"\\" + bytes((char,)) if char in (0x22, 0x5C) else bytes((char,))


# The password runs from the first ":" to the last "@" of the authority, as URL parsers read it: one
# pasted with a raw "@" or ":" in it ("p@ss", "pa:ss") is masked whole.
_URL_CREDENTIALS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s:]*):([^/\s]*)@")
MASKED_PASSWORD = "••••"
# A URL with a password anywhere in a text (an error message naming a base URL, say).
_URL_IN_TEXT = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:)(?!••••@)([^/\s]+)@")
_URL_IN_BYTES = re.compile(_URL_IN_TEXT.pattern.encode())


def url_password(url: str) -> str | None:
    m = _URL_CREDENTIALS.match(url)
    return m.group(3) if m and m.group(3) else None


# Query parameters that carry a credential (Azure's api-key, a relay's ?key= or ?token=, a signed URL's sig):
# their values are secrets whatever they look like. Names compared with case, "-", "_" and an "x-" prefix set
# aside (api-key, X-API-KEY, accessToken).
_CREDENTIAL_PARAMS = frozenset({"apikey", "key", "token", "accesstoken", "tokenkey", "auth", "secret", "password",
                                "sig", "signature"})
# Other names that may carry one, by their name with case, "-", "_" and an "x-" prefix set aside — a header's
# name copied into the URL (X-Api-Key=), Azure API Management's subscription-key, a client secret, an Azure
# Function's code: their values are secrets when they look like one (see ``_looks_secret``), as every value
# masked is masked in every body relayed: ?route_key=production must not turn "production" into "••••".
_CREDENTIAL_PARAM_ENDINGS = ("key", "token", "secret", "password", "passwd", "signature")
_CREDENTIAL_PARAMS_LIKE = frozenset({"authorization", "pwd", "code"})


def _param_secret(name: str, value: str) -> bool:
    """Whether the value of query parameter ``name`` is a secret."""
    from urllib.parse import unquote_plus

    plain = unquote_plus(name).strip().lower()
    plain = plain.removeprefix("x-").removeprefix("x_").replace("-", "").replace("_", "")
    if plain in _CREDENTIAL_PARAMS:
        return True
    return (plain in _CREDENTIAL_PARAMS_LIKE or plain.endswith(_CREDENTIAL_PARAM_ENDINGS)) and _looks_secret(value)


GENERATED_VALUE_MIN = 16  # generated keys are longer; words and ids a person types rarely are


def _looks_secret(value: str) -> bool:
    """16 characters or more, with letters and digits both: a generated key, not a word or a number."""
    return len(value) >= GENERATED_VALUE_MIN and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def url_secrets(url: str) -> set[str]:
    """What in a provider URL is a secret, as written and as sent (percent-decoded): its password, and the
    values of its credential query parameters (``?api-key=…``) — which the masking must know whether or not
    the same value is also saved as the provider's key (the provider dialog saves the URL first)."""
    from urllib.parse import unquote, unquote_plus

    found: set[str] = set()
    credentials = _URL_CREDENTIALS.match(url)
    if credentials and (password := credentials.group(3)):
        found |= {password, unquote(password), *_basic_auth(unquote(credentials.group(2)), unquote(password))}
    elif user := _lone_user(url):  # https://sk-…@relay/v1: the user name is all the credential there is
        found |= {user, unquote(user), *_basic_auth(unquote(user), "")}
    query = url.partition("?")[2].partition("#")[0]
    # "&" separates parameters; ";" too in older servers' reading, while newer ones take it as part of a value:
    # both readings count, so a value with a ";" in it is masked whole and one after a ";" as well.
    for part in {*query.split("&"), *re.split("[&;]", query)}:
        name, _, value = part.partition("=")
        if value and _param_secret(name, unquote_plus(value)):
            found |= {value, unquote_plus(value)}
    return found


LONE_USER_KEY_MIN = 16  # a user name without a password this long is a key, not a name ("ubuntu", "deploy")


def _lone_user(url: str) -> str | None:
    """The user name of a URL that has no password (``https://TOKEN@host``, as Git hosts take a token), as
    written, when it is long enough to be a key: a relay that takes its key so reads it there, and aiohttp
    sends it as Basic credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    user = parts.username
    return user if user and not parts.password and len(user) >= LONE_USER_KEY_MIN else None


def _basic_auth(user: str, password: str) -> set[str]:
    """The credentials of a URL's user and password as an ``Authorization: Basic`` header carries them
    (aiohttp sends them so when the provider has no key): a relay echoing that header back says only this."""
    import base64

    found = set()
    for encoding in ("latin-1", "utf-8"):  # aiohttp's default; a client encoding UTF-8
        try:
            found.add(base64.b64encode(f"{user}:{password}".encode(encoding)).decode("ascii"))
        except UnicodeEncodeError:
            pass
    return found


def mask_url(url: str) -> str:
    """``https://user:secret@host/v1`` → ``https://user:••••@host/v1`` (for display; an empty password,
    ``https://user:@host``, has nothing to hide)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASKED_PASSWORD}@" if m.group(3) else m.group(0),
                                url, count=1)


def mask_url_secrets(url: str) -> str:
    """A URL whose secrets the masking may not know yet (one refused, or quoted as it is being saved), for a
    message: its password, a key as its user name and its credential parameters' values masked in place."""
    shown = mask_url(url)
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        if len(secret) >= 6 and secret in shown:  # as the masking: a shorter one would mask ordinary words
            shown = shown.replace(secret, mask(secret))
    return shown


def mask_refused(value: str) -> str:
    """A value the settings refused as a URL, for the message that says so. It may hold a password in a
    shape no URL rule can find — a raw "/", "#" or space in it, one slash after the scheme, a list of
    URLs — so everything before its last "@" is masked (a scheme at its start is kept). A long one is
    cut: the message is read by a person, and a pasted page must not become a page-long error."""
    head, at, tail = value.rpartition("@")
    shown = f"{m.group(0) if (m := _SCHEME_START.match(head)) else ''}{MASKED_PASSWORD}@{tail}" if at else value
    # Its credential parameters' values masked too — in the part that can be shown (a pasted page of them
    # would cost a scan each).
    return shortened(mask_url_secrets(shown[:2 * REFUSED_SHOWN_MAX]), REFUSED_SHOWN_MAX)


REFUSED_SHOWN_MAX = 200


_SCHEME_START = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/*")


def unmask_url(name: str, new: str, old: str) -> str:
    """A URL coming back from the UI with the masked password keeps the password it had — for the same
    user at the same address only: a password saved for one host is never sent to another one."""
    m = _URL_CREDENTIALS.match(new)
    if m is None or m.group(3) != MASKED_PASSWORD:
        return new
    old_password = url_password(old)
    if old_password is None or _account(new) != _account(old):
        raise ValueError(f"{name}: {MASKED_PASSWORD} stands for the password saved with the address as it was; "
                         "with another scheme, host, port or user name, type the password")
    return f"{m.group(1)}{m.group(2)}:{old_password}@" + new[m.end():]


def _account(url: str) -> tuple[str, str | None, str | None, int | None] | None:
    """Who logs in where: scheme, user name, host and port."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.username, parts.hostname, parts.port
    except ValueError:
        return None


def _pieces_as_saved(new: str, shown: str, saved: str) -> str:
    """``new`` with each piece equal to ``shown``'s at the same place taken from ``saved`` (``shown`` is
    ``saved`` with its secrets masked, so the two split alike)."""
    def split(url: str) -> tuple[list[str], list[str], str]:
        rest, hash_mark, fragment = url.partition("#")
        head, _, query = rest.partition("?")
        return head.split("/"), query.split("&") if query else [], hash_mark + fragment

    new_path, new_query, fragment = split(new)
    shown_path, shown_query, _ = split(shown)
    saved_path, saved_query, _ = split(saved)
    path = [saved_path[i] if i < len(shown_path) and piece == shown_path[i] else piece
            for i, piece in enumerate(new_path)]
    by_name = {pair.partition("=")[0]: (pair, saved_pair)
               for pair, saved_pair in zip(shown_query, saved_query, strict=True)}
    query = []
    for pair in new_query:
        shown_pair, saved_pair = by_name.get(pair.partition("=")[0], (None, None))
        query.append(saved_pair if pair == shown_pair and saved_pair is not None else pair)
    return "/".join(path) + ("?" + "&".join(query) if query else "") + fragment
