"""``config.toml``: typed, validated settings that keep the user's comments across every save.

The file is the user's. A value of the wrong type falls back to its default (the original file is
copied aside); a file that does not parse is moved aside; every save is atomic. The user may edit it
while the app runs: a valid edit is picked up (``reload``), an invalid one is reported and the last
good settings stay in use, and a change made in the app is applied on top of the file as it is on
disk, so hand edits and comments survive.
"""

from __future__ import annotations

import codecs
import functools
import json
import logging
import re
import time
import tomllib
from collections.abc import Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from api_router.config.edits import ConfigError, remove_table, set_order, set_value
from api_router.config.schema import (
    DEFAULT_PORTS,
    LOOPBACK_HOSTS,
    PROVIDER_ID_RE,
    SECTIONS,
    Config,
    ListenConfig,
    ProviderConfig,
    default_of,
    field_problem,
    settings_of,
)
from api_router.fsutil import (
    ChangedMeanwhile,
    FileStamp,
    atomic_write,
    copy_aside,
    is_read_only,
    look_at,
    move_aside,
    read_file,
    remove_stale_temp_files,
    tighten,
)
from api_router.secrets import mask_refused, mask_url_secrets
from api_router.texts import QUOTED_MAX, shortened, shown, written
from api_router.tomlfiles import TomlError, document, dumped, loads, plain, tomlkit
from api_router.userfile import SAVE_UNDER_WAY_NS, UserFile

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument


# --- parsing ----------------------------------------------------------------------------------------


class Problem(str):
    """A problem found in config.toml, written with what the loader does instead (``fallback``). Where
    the whole file is refused — an edit, a hand edit while running — only ``what`` is true."""

    what: str
    fallback: str

    def __new__(cls, what: str, fallback: str) -> Problem:
        problem = super().__new__(cls, f"{what}; {fallback}")
        problem.what, problem.fallback = what, fallback
        return problem

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        # How copy and pickle rebuild it (a str's own would pass the joined text alone): an event's
        # message may be a Problem, and events are copied into the status document.
        return self.what, self.fallback


def _read_section(data: Any, where: str, section: type, problems: list[Problem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if data is None:
        return values
    if not isinstance(data, Mapping):
        problems.append(Problem(f"{where} must be a table", "using defaults"))
        return values
    for f in settings_of(section):
        if f.name not in data:
            continue
        value = plain(data[f.name])
        why = field_problem(f, value)
        if why:
            # As written, with whatever may be a URL's password masked.
            found = (repr(shortened(mask_refused(value), QUOTED_MAX)) if isinstance(value, str)
                     else shortened(mask_refused(written(value)), QUOTED_MAX))
            instead = f.metadata["instead"] or _shown(default_of(f))
            problems.append(Problem(f"{where} {f.name} {why} (found {found})", f"using {instead}"))
        else:
            values[f.name] = MappingProxyType(dict(value)) if isinstance(value, Mapping) else value
    return values


def ignored_settings(doc: Mapping[str, Any]) -> list[str]:
    """The keys of config.toml that name no setting (a misspelt one, say), each as a sentence with the
    setting it probably meant: they are ignored, and a typo that silently does nothing costs hours."""
    known_top = {*SECTIONS, "providers", "provider_order"}
    out = [_ignored(str(key), "", known_top) for key in doc if key not in known_top]
    tables: list[tuple[str, Any, type]] = [(f"[{name}]", doc.get(name), cls) for name, cls in SECTIONS.items()]
    providers = doc.get("providers")
    if isinstance(providers, Mapping):
        tables += [(f"[providers.{_toml_key(str(pid))}]", table, ProviderConfig) for pid, table in providers.items()]
    for where, table, cls in tables:
        if isinstance(table, Mapping):
            known = {f.name for f in settings_of(cls)}
            out += [_ignored(str(key), where, known) for key in table if key not in known]
    return out


def taken_otherwise(doc: Mapping[str, Any], config: Config) -> list[str]:
    """Values the file may hold but that do not run as written — the app refuses them, so a hand edit
    is the only way in — each as a sentence saying what runs instead. Not invalid: they are not
    repaired, and a change saved from the app's whole routing form still goes through."""
    out = []
    routing = config.routing
    if routing.hedge and routing.hedge_max_seconds < routing.hedge_min_seconds:  # hedging off: nothing waits
        out.append(f"config.toml: [routing] hedge_max_seconds ({routing.hedge_max_seconds:g}) is below "
                   f"hedge_min_seconds ({routing.hedge_min_seconds:g}); a hedge waits "
                   f"{routing.hedge_min_seconds:g} s for every provider")
    order = plain(doc.get("provider_order", []))
    if isinstance(order, list):
        named = [pid for pid in order if isinstance(pid, str) and pid in config.providers]
        out += [f"config.toml: provider_order names {shortened(pid, QUOTED_MAX)} {named.count(pid)} times; "
                "its first place counts" for pid in dict.fromkeys(named) if named.count(pid) > 1]
    return out


def warnings_of(doc: Mapping[str, Any], config: Config) -> tuple[str, ...]:
    """What the file says that runs otherwise or not at all (see ``ignored_settings``, ``taken_otherwise``)."""
    return (*ignored_settings(doc), *taken_otherwise(doc, config))


def _ignored(key: str, where: str, known: Collection[str]) -> str:
    import difflib  # only for a file that has such a key: not worth its memory in every running gateway

    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    shown_key = shortened(key, QUOTED_MAX)  # a 100,000-character key gets a sentence, not itself back
    return (f"config.toml: {f'{where} ' if where else ''}{shown_key} is not a setting API Router knows; "
            f"it is ignored{hint}")


def _toml_key(key: str) -> str:
    """``key`` as config.toml spells it in a table header (quoted when it has to be)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _shown(value: Any) -> str:
    """A default as config.toml spells it (a str's repr is a TOML literal string already)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(dict(value)) if isinstance(value, Mapping) else repr(value)


def points_at_gateway(url: str, listen: ListenConfig) -> bool:
    """Whether ``url`` addresses this gateway itself (a provider that would loop back to us)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    ours = {*LOOPBACK_HOSTS, "0.0.0.0", listen.host.lower().strip("[]")}
    return host in ours and port == listen.port


def parse(doc: Mapping[str, Any], own_port: int | None = None) -> tuple[Config, list[Problem]]:
    """Turn a parsed TOML mapping into a Config; every problem found is reported, none is fatal.
    ``own_port``: the port this gateway listens on when it is not the file's — a ``--port`` option, or
    the port it was given when any free port was asked for (a provider on the file's port is then
    another server, and one on ``own_port`` is us)."""
    problems: list[Problem] = []
    sections = {name: cls(**_read_section(doc.get(name), f"[{name}]", cls, problems))
                for name, cls in SECTIONS.items()}
    listen: ListenConfig = sections["listen"]
    if not listen.may_listen_on(listen.host):
        # Else it is "in use" until the next start refuses it (or, a hand edit, never listened on at all).
        problems.append(Problem(f"[listen] host {shortened(listen.host, QUOTED_MAX)!r} is not a loopback address, "
                                "and allow_remote is not true", "using '127.0.0.1'"))
        listen = sections["listen"] = replace(listen, host=ListenConfig.host)
    ours = listen if own_port is None else replace(listen, port=own_port)

    providers: dict[str, ProviderConfig] = {}
    raw_providers = doc.get("providers")
    if raw_providers is not None and not isinstance(raw_providers, Mapping):
        problems.append(Problem("[providers] must be a table of provider tables", "ignoring it"))
        raw_providers = None
    for pid, table in (raw_providers or {}).items():
        if not PROVIDER_ID_RE.fullmatch(pid):  # "", " x " or "x\n" would reach routing and the status as an id
            problems.append(Problem(f"[providers.{shortened(_toml_key(pid), QUOTED_MAX)}]: "
                                    f"{shortened(pid, QUOTED_MAX)!r} is not a valid provider id (1 to 64 "
                                    "letters, digits, '.', '_' or '-', starting with a letter or digit)",
                                    "ignoring it"))
            continue
        if not isinstance(table, Mapping):
            problems.append(Problem(f"[providers.{pid}] must be a table", "ignoring it"))
            continue
        values = _read_section(table, f"[providers.{pid}]", ProviderConfig, problems)
        if values.get("base_url") and points_at_gateway(values["base_url"], ours):
            problems.append(Problem(f"[providers.{pid}] base_url {mask_url_secrets(values['base_url'])} is API Router "
                                    "itself; a provider must be another server", "ignoring it"))
            values["base_url"] = ""
        values.setdefault("display_name", pid)
        providers[str(pid)] = ProviderConfig(id=str(pid), **values)

    order = plain(doc.get("provider_order", []))
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        problems.append(Problem(f"provider_order must be a list of provider ids (found {shown(order, 200)})",
                                "using file order"))
        order = []
    ordered = [pid for pid in dict.fromkeys(order) if pid in providers]
    ordered += [pid for pid in providers if pid not in ordered]
    config = Config(**sections, providers=MappingProxyType({pid: providers[pid] for pid in ordered}))
    return config, problems


# --- the template a new file starts from ----------------------------------------------------------------


@functools.cache
def default_template() -> str:
    """A commented config.toml with every setting at its default, built from the schema."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("API Router settings. Edit them here or in the app: your comments and key order are kept."))
    doc.add(tomlkit.comment("Every key is optional; a missing key takes the value shown here. The app picks up"))
    doc.add(tomlkit.comment("an edit within a second or two."))
    doc.add(tomlkit.nl())
    doc.add(tomlkit.comment("Providers are tried in this order after the preferred one."))
    doc["provider_order"] = tomlkit.array()
    for name, cls in SECTIONS.items():
        table = tomlkit.table()
        for f in settings_of(cls):
            item = tomlkit.item(default_of(f))
            if f.metadata.get("doc"):
                item.comment(f.metadata["doc"])
            table.add(f.name, item)
        doc.add(tomlkit.nl())
        doc[name] = table
    doc.add(tomlkit.nl())
    doc.add(tomlkit.comment("One table per upstream provider, for example:"))
    doc.add(tomlkit.comment("[providers.relay]"))
    doc.add(tomlkit.comment('display_name = "My relay"'))
    for f in settings_of(ProviderConfig):
        if f.name == "display_name":
            continue
        default = default_of(f)
        value = tomlkit.item(dict(default) if isinstance(default, Mapping) else default).as_string()
        if f.name == "base_url":
            value = '"https://relay.example.com/v1"'
        elif isinstance(default, Mapping):
            value = '{ "gpt-5.5" = "openai/gpt-5.5" }'
        note = f"   # {f.metadata['doc']}" if f.metadata.get("doc") else ""
        doc.add(tomlkit.comment(f"{f.name} = {value}{note}"))
    return tomlkit.dumps(doc)



# --- the file ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    problems: tuple[str, ...] = ()
    moved_to: Path | None = None  # the unparseable file, kept for the user
    copied_to: Path | None = None  # the original of a file we repaired
    created: bool = False
    ignored: tuple[str, ...] = ()  # what the file says that runs otherwise or not at all (see warnings_of)


@dataclass(frozen=True)
class Loaded:
    """The user's text (comments and all), as read or last written, and the settings it gives."""

    text: str
    config: Config
    ignored: tuple[str, ...] = ()  # what it says that runs otherwise or not at all (see warnings_of)
    bom: bool = False  # the file starts with a UTF-8 byte order mark (kept when the app writes it)


class ConfigFile(UserFile[Loaded]):
    """Owns ``config.toml``: one current snapshot for readers, serialised atomic edits for writers."""

    label = "config.toml"
    kept = "settings"

    def __init__(self, path: Path, loaded: Loaded, own_port: int | None = None) -> None:
        super().__init__(path, loaded)
        self.listeners: list[Callable[[Config], None]] = []  # called after every change, edit or reload
        self._own_port = own_port  # see parse()
        self.created = False  # made by this start from the template: its settings are the defaults
        # Where the gateway serves (host, port), while it does: a hand edit of [listen] waits for a new start.
        self.served_at: Callable[[], tuple[str, int] | None] = lambda: None

    @property
    def current(self) -> Config:
        return self._value.config

    def serving_on(self, port: int) -> None:
        """The gateway listens on ``port`` now: a provider there is this gateway. Only known once it is
        bound when ``--port 0`` or ``[listen] port = 0`` asked for any free port."""
        self._own_port = port

    @classmethod
    def load(cls, path: Path, own_port: int | None = None) -> tuple[ConfigFile, LoadReport]:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path)
        if not path.exists():
            text = default_template()
            atomic_write(path, text.encode())
            made = cls(path, Loaded(text, parse(loads(text), own_port)[0]), own_port)
            made.created = True
            return made, LoadReport(created=True)
        looked = look_at(path)  # before the read: a save landing after it is another version
        raw = read_file(path)
        # Empty: nothing but TOML's whitespace (a vertical tab, say, is no TOML: such a file is moved aside).
        if not raw.removeprefix(codecs.BOM_UTF8).strip(b" \t\r\n") and not isinstance(looked, OSError):
            return cls._empty_at_start(path, own_port, *looked)
        try:
            text = raw.decode("utf-8-sig")
            data = loads(text)
            config, problems = parse(data, own_port)
            # Invalid values are repaired in the document, so one that cannot be edited is as unusable.
            doc = document(text) if problems else None
        except ValueError as exc:  # not UTF-8, or not TOML (TomlError)
            text = default_template()
            defaults = cls(path, Loaded(text, parse(loads(text), own_port)[0]), own_port)
            if is_read_only(path):  # the user's to fix: left as it is
                why = (f"config.toml could not be read ({_one_line(exc)}); it is read-only, so it was left as it is, "
                       "and defaults are in use until it is fixed")
                defaults._left_unusable()
                return defaults, LoadReport(problems=(why,))
            moved = move_aside(path)
            defaults._stamp = atomic_write(path, text.encode())
            why = (f"config.toml could not be read ({_one_line(exc)}); it was moved to {moved.name} and defaults "
                   "are in use")
            return defaults, LoadReport(problems=(why,), moved_to=moved)
        tighten(path)  # the file names providers and may hold URL passwords: the owner's only
        ignored = warnings_of(data, config)
        bom = raw.startswith(codecs.BOM_UTF8)
        if doc is None:
            return cls(path, Loaded(text, config, ignored, bom), own_port), LoadReport(ignored=ignored)
        _repair(doc, config)
        if not dumped(doc).strip():  # nothing was left (its only table an invalid provider): written as a new file
            doc = document(default_template())
        try:
            text, unsaved = in_style_of(dumped(doc), text), "it is read-only" if is_read_only(path) else ""
        except TomlError as exc:
            unsaved = f"the repair cannot be written into it: {exc}"
        fixed = parse(doc, own_port)[0]
        loaded = Loaded(text, fixed, warnings_of(doc, fixed), bom)
        repaired = cls(path, loaded, own_port)
        if unsaved:  # the user's to fix: the repair is only in use, not saved
            note = f"config.toml has invalid values; {unsaved}, so it was left as it is"
            repaired._left_unusable()
            return repaired, LoadReport(problems=(note, *problems), ignored=ignored)
        copied = copy_aside(path)
        repaired._stamp = atomic_write(path, repaired._encode(loaded))
        note = f"config.toml had invalid values; the original was copied to {copied.name}"
        return repaired, LoadReport(problems=(note, *problems), copied_to=copied, ignored=ignored)

    @classmethod
    def _empty_at_start(cls, path: Path, own_port: int | None, stamp: FileStamp,
                        ctime: int) -> tuple[ConfigFile, LoadReport]:
        """A file with nothing in it (whitespace, a byte order mark) holds no settings: the defaults are in
        use, written into it as into a missing one — unless it was written less than a second ago (an
        editor may be saving into it: what lands is read as any edit), or changed since it was looked at,
        or cannot be replaced (left as it is; the next change made in the app writes it whole). (While
        running, an empty file is an edit caught half done, and is not used.) ``stamp``, ``ctime``: the
        file as looked at before it was read."""
        text = default_template()
        defaults = cls(path, Loaded(text, parse(loads(text), own_port)[0]), own_port)
        if time.time_ns() - stamp[0] >= SAVE_UNDER_WAY_NS and not is_read_only(path):
            try:
                defaults._stamp = atomic_write(path, text.encode(), unless_changed=(stamp,))
                return defaults, LoadReport()
            except (ChangedMeanwhile, OSError) as exc:
                log.info("config.toml was empty and is left as it is (%s)", exc)
        defaults._found_empty(stamp, ctime)
        return defaults, LoadReport()

    def edit(self, change: Callable[[TOMLDocument], TOMLDocument | None],
             check: Callable[[Config], None] | None = None) -> Config:
        """Apply ``change`` to the file as it is now (it changes the document, or returns the changed one);
        save and publish it only if the result is valid — and passes ``check`` (which raises to refuse it),
        judged under the same lock: a provider the change names may have been deleted, renamed or switched
        off since the caller looked."""
        self.catch_up()

        def changed(base: Loaded) -> Loaded:  # a hand edit saved since: the change goes on it
            try:
                doc = document(base.text)
            except TomlError as exc:  # read by tomllib, refused by tomlkit (nested beyond its limit)
                raise ConfigError(f"config.toml cannot be changed by the app ({exc}); change it by hand") from None
            changed_doc = change(doc)
            if changed_doc is not None:
                doc = changed_doc
            config, problems = parse(doc, self._own_port)
            if problems:
                raise ConfigError("; ".join(p.what for p in problems))
            if check is not None:
                check(config)
            try:
                text = in_style_of(dumped(doc), base.text)
            except TomlError as exc:
                raise ConfigError(f"config.toml was not changed: {exc}, or make the change by hand") from None
            return Loaded(text, config, warnings_of(doc, config), base.bom)

        with self._lock:
            loaded = self._save(changed)
        self._publish()
        return loaded.config

    def _same_settings(self, a: Loaded, b: Loaded) -> bool:
        # ``manual_override = ""`` written or not: no lock either way. The providers' order is a setting too
        # (dicts compare equal in any order).
        return a.config == b.config and a.config.order == b.config.order

    def _ignored(self, value: Loaded) -> list[str]:
        return list(value.ignored)

    def _left_for_next_start(self, before: Loaded, after: Loaded) -> str:
        # The gateway keeps listening where it started: Codex and the window are pointed there.
        was, now = before.config.listen, after.config.listen
        wanted = (now.host, now.port)
        if (was.host, was.port) == wanted or wanted == self.served_at():  # changed back to where it serves
            return ""
        return (f"the gateway's address ([listen] host and port: {now.host}:{now.port}), which takes effect when "
                "API Router starts again")

    def _decode(self, raw: bytes) -> Loaded | str:
        try:
            text = raw.decode("utf-8-sig")
            data = loads(text)
        except ValueError as exc:  # not UTF-8, or not TOML (TomlError)
            return f"does not parse ({_one_line(exc)})"
        config, problems = parse(data, self._own_port)
        if problems:
            return "has invalid values: " + "; ".join(p.what for p in problems)
        return Loaded(text, config, warnings_of(data, config), raw.startswith(codecs.BOM_UTF8))

    def _encode(self, value: Loaded) -> bytes:
        return (codecs.BOM_UTF8 if value.bom else b"") + value.text.encode()

    def _published(self, value: Loaded) -> None:
        for listener in self.listeners:
            listener(value.config)


def in_style_of(text: str, original: str) -> str:
    """``text`` (tomlkit's, which ends the lines it adds with LF) with the line ends ``original`` uses: a
    file written with CRLF (Windows editors) stays CRLF throughout — unless that would change a value
    (a multi-line string keeps the line ends it had)."""
    if "\r\n" not in original or _LONE_LF.search(text) is None:
        return text
    crlf = _LONE_LF.sub("\r\n", text)
    try:
        return crlf if tomllib.loads(crlf) == tomllib.loads(text) else text
    except tomllib.TOMLDecodeError:
        return text


_LONE_LF = re.compile(r"(?<!\r)\n")


def _repair(doc: TOMLDocument, config: Config) -> None:
    """Replace each invalid value with the default that is in effect, so the file says what runs."""
    from tomlkit.items import AoT, Table  # loaded with the document already

    for name, cls in SECTIONS.items():
        table = doc.get(name)
        if table is None:
            continue
        if not isinstance(table, MutableMapping):
            del doc[name]
            continue
        values = getattr(config, name)
        for f in settings_of(cls):
            if f.name in table and field_problem(f, plain(table[f.name])):
                table[f.name] = getattr(values, f.name)
    listen = doc.get("listen")
    if isinstance(listen, MutableMapping) and isinstance(host := plain(listen.get("host")), str) \
            and not config.listen.may_listen_on(host):
        listen["host"] = config.listen.host  # beyond loopback without allow_remote: not what runs
    providers = doc.get("providers")
    if providers is not None and not isinstance(providers, MutableMapping):
        del doc["providers"]
    elif providers is not None:
        removed = False
        for pid in list(providers):
            provider = providers[pid]
            if pid not in config.providers:  # not a table, or not a valid id: ignored, so gone from the file
                remove_table(doc, providers, pid)  # the notes above the next table's header stay there
                removed = True
                continue
            for f in settings_of(ProviderConfig):
                if f.name in provider and field_problem(f, plain(provider[f.name])):
                    if isinstance(provider[f.name], Table):  # written with a header: [providers.p1.model_map]
                        _remove_sub_table(doc, provider, f.name)
                    set_value(provider, f.name, getattr(config.providers[pid], f.name))
            if provider.get("base_url") and not config.providers[pid].base_url:
                provider["base_url"] = ""  # refused (it pointed at API Router itself)
            if isinstance(provider, Table) and provider.is_super_table() and not all(
                    isinstance(item, Table | AoT) for item in provider.values()):
                provider._is_super_table = None  # a value set in a provider written only through its tables
        if removed and not providers and "providers" in doc:  # each table was invalid: the bare [providers]
            del doc["providers"]  # left would not survive a save (``remove_table`` took one written only by them)
    order = plain(doc.get("provider_order", []))
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        set_order(doc, list(config.order))


def _remove_sub_table(doc: TOMLDocument, provider: MutableMapping[str, Any], key: str) -> None:
    """Remove the invalid table ``provider[key]`` (``[providers.p1.model_map]``) as a delete does: with the
    comments right above its header, and leaving those that end it above the next header or at the end of
    the file. A provider the file writes only through that table (no ``[providers.p1]`` of its own) runs,
    so it keeps a header: ``[providers.p1]`` where the removed one stood, under the same comments. (Left
    with nothing written, tomlkit would write nothing, and the repair could not be saved.)"""
    from tomlkit.items import Table  # loaded with the document already

    if isinstance(provider, Table) and provider.is_super_table() and len(provider) == 1:
        provider._is_super_table = False
    remove_table(doc, provider, key)


def _one_line(exc: BaseException) -> str:
    said = " ".join(str(exc).split()) or type(exc).__name__
    # tomlkit calls the end of the text the character '\x00', at a position that is not where it is.
    return _ENDS_TOO_SOON.sub("the file ends before something it opened (a [, a { or a quote) is closed", said)


_ENDS_TOO_SOON = re.compile(r"Unexpected character: '\\x00'(?: at line \d+ col \d+)?")
