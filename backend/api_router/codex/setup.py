"""Connect Codex: write the provider block into ``$CODEX_HOME/config.toml`` and the gateway token
into ``auth.json``, keeping a backup of both so the user can go back.

The user's config.toml is merged with tomlkit (their other settings and comments stay); a file
that does not parse is never touched.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Mapping, MutableMapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from api_router.config.schema import DEFAULT_PORTS, LOOPBACK_HOSTS
from api_router.fsutil import atomic_write, made_read_only, private_dir, read_file, remove_stale_temp_files
from api_router.records import now_ms
from api_router.secrets import TOKEN_RE
from api_router.tomlfiles import TomlError, document, dumped, loads, same_values, tomlkit

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

PROVIDER_ID = "api_router"
BACKUP_DIR = "api-router-backup"
FILES = ("config.toml", "auth.json")


class CodexSetupError(ValueError):
    pass


# Settings of a Codex provider block that make Codex take its key from somewhere other than auth.json
# (an environment variable, a token written in the block, a command, a cloud login): left in API Router's
# block, Codex would send the gateway something other than its token.
OTHER_KEY_SOURCES = ("env_key", "env_key_instructions", "experimental_bearer_token", "auth", "gateway_oauth", "aws")


def provider_values(gateway_url: str) -> dict[str, Any]:
    return {"name": "API Router", "base_url": gateway_url, "wire_api": "responses", "requires_openai_auth": True}


def _make_ours(block: MutableMapping[str, Any], gateway_url: str) -> None:
    """API Router's provider block (a dict, or the user's tomlkit table) pointed here, taking its key from
    auth.json; the user's other settings in it kept."""
    block.update(provider_values(gateway_url))
    for key in OTHER_KEY_SOURCES:
        block.pop(key, None)


def _takes_key_from_auth_json(block: Mapping[str, Any]) -> bool:
    return block.get("requires_openai_auth") is True and not any(key in block for key in OTHER_KEY_SOURCES)


def config_block(gateway_url: str) -> str:
    """The block to paste into Codex's config.toml (shown in the UI and the headless banner); written
    out directly, since showing it should not need a TOML library."""
    lines = [f"model_provider = {_toml(PROVIDER_ID)}", "", f"[model_providers.{PROVIDER_ID}]"]
    lines += [f"{key} = {_toml(value)}" for key, value in provider_values(gateway_url).items()]
    return "\n".join(lines) + "\n"


def _toml(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # A JSON string is a TOML basic string, once DEL (which JSON leaves as it is) is escaped; non-ASCII
    # stays as it is (JSON's surrogate-pair escapes are not TOML).
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def auth_json(token: str) -> str:
    return json.dumps({"OPENAI_API_KEY": token}, indent=2) + "\n"


def _read_text(path: Path) -> str:
    """One of Codex's files (a FIFO or device under its name is refused, never waited on)."""
    return read_file(path).decode("utf-8-sig")


def _read_config(path: Path) -> str:
    """The user's file as it is ("" when there is none); a file that is no TOML is refused."""
    try:
        text = _read_text(path)
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise CodexSetupError(f"{path} is not UTF-8 text; fix it or move it away first — API Router does not "
                              "overwrite a file it cannot read") from None
    try:
        loads(text)
    except TomlError as exc:
        raise CodexSetupError(f"{path} could not be parsed ({exc}); fix it or move it "
                              "away first — API Router does not overwrite a file it cannot read") from None
    return text


def _read_auth(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_read_text(path))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def merged_config(text: str, gateway_url: str, path: Path | str = "config.toml") -> str:
    """The user's config.toml (``text``) with Codex pointed at the gateway, every other setting and comment
    as it was; checked to read back as exactly that before it is written."""
    try:
        doc = document(text)
    except TomlError as exc:  # read by tomllib, refused by tomlkit (nested beyond its limit)
        raise CodexSetupError(f"{path} cannot be merged into ({exc}); add the snippet shown in Connect Codex by "
                              "hand") from None
    wanted = doc.unwrap()
    _check_mergeable(wanted, path)
    wanted["model_provider"] = PROVIDER_ID
    _make_ours(wanted.setdefault("model_providers", {}).setdefault(PROVIDER_ID, {}), gateway_url)
    try:
        return _merged_in_place(doc, gateway_url)
    except (TomlError, ValueError):  # tomlkit put the new table among keys written dotted, or refused it
        merged = _merged_at_top(text, gateway_url)
    if merged is None or not _reads_as(merged, wanted):
        raise CodexSetupError(f"{path} is laid out in a way API Router cannot merge into without moving other "
                              "settings; add the snippet shown in Connect Codex by hand")
    return merged


def _reads_as(text: str, wanted: Mapping[str, Any]) -> bool:
    try:
        return same_values(loads(text), wanted)
    except TomlError:
        return False


def _check_mergeable(data: Mapping[str, Any], path: Path | str) -> None:
    providers = data.get("model_providers")
    if providers is not None and not isinstance(providers, Mapping):
        raise CodexSetupError(f"{path}: model_providers is not a table of providers; fix it first — API Router "
                              "does not overwrite a file whose settings it cannot merge into")
    if providers is not None and not isinstance(providers.get(PROVIDER_ID, {}), Mapping):
        raise CodexSetupError(f"{path}: model_providers.{PROVIDER_ID} is not a table; fix it or remove it first — "
                              "API Router does not overwrite a file whose settings it cannot merge into")


def _merged_in_place(doc: TOMLDocument, gateway_url: str) -> str:
    """The usual file: the provider's table added to (or updated in) the user's ``model_providers``."""
    providers = doc.get("model_providers")
    doc["model_provider"] = PROVIDER_ID
    if providers is None:
        providers = doc["model_providers"] = tomlkit.table(is_super_table=True)
    if PROVIDER_ID not in providers:
        from tomlkit.items import InlineTable  # loaded with the document already

        # ``model_providers = { … }`` on one line takes the provider in the same form
        providers[PROVIDER_ID] = tomlkit.inline_table() if isinstance(providers, InlineTable) else tomlkit.table()
    _make_ours(providers[PROVIDER_ID], gateway_url)
    return dumped(doc)


def _merged_at_top(text: str, gateway_url: str) -> str | None:
    """A file that writes its providers as dotted keys: the two settings taken out where they were, and
    written as dotted keys before everything else (after the file's opening comments); None when even
    taking them out moves something."""
    doc = document(text)
    doc.pop("model_provider", None)
    providers = doc.get("model_providers")
    if isinstance(providers, MutableMapping):
        providers.pop(PROVIDER_ID, None)
    try:
        rest = dumped(doc)
    except TomlError:
        return None
    lines = rest.splitlines(keepends=True)
    top = 0
    while top < len(lines) and lines[top].lstrip().startswith("#"):
        top += 1
    ours = [f"model_provider = {_toml(PROVIDER_ID)}\n"]
    ours += [f"model_providers.{PROVIDER_ID}.{key} = {_toml(value)}\n"
             for key, value in provider_values(gateway_url).items()]
    return "".join(lines[:top] + ours + ["\n"] + lines[top:])


def _points_here(home: Path, gateway_url: str | None, *, key_from_auth_json: bool = True) -> bool:
    """Whether Codex's config.toml sends its requests here (to ``gateway_url``; None: anywhere): through
    API Router's provider block, or as its built-in OpenAI provider with ``openai_base_url`` set to it
    (how remote compaction is had). The address as the user wrote it: ``localhost`` for 127.0.0.1 too.
    ``key_from_auth_json``: and only when Codex would send the token auth.json holds (see OTHER_KEY_SOURCES)."""
    try:
        data = loads(_read_text(home / "config.toml"))
    except (OSError, ValueError):  # missing, not UTF-8 or not TOML (TomlError): not pointed here
        return False
    chosen = data.get("model_provider")
    providers = data.get("model_providers")
    block = providers.get(PROVIDER_ID) if isinstance(providers, Mapping) else None
    if chosen == PROVIDER_ID:
        return (isinstance(block, Mapping) and block.get("wire_api") == "responses"
                and (gateway_url is None or same_address(block.get("base_url"), gateway_url))
                and (not key_from_auth_json or _takes_key_from_auth_json(block)))
    return (chosen in (None, "openai") and gateway_url is not None
            and same_address(data.get("openai_base_url"), gateway_url))


def same_address(written: Any, gateway_url: str) -> bool:
    """Whether a base URL written in Codex's config reaches ``gateway_url``: the same scheme, port and path
    (a final slash aside), and the same host — any loopback name for a loopback one."""
    if not isinstance(written, str):
        return False
    try:
        a, b = urlsplit(written.strip()), urlsplit(gateway_url)
        ports = a.port or DEFAULT_PORTS.get(a.scheme), b.port or DEFAULT_PORTS.get(b.scheme)
    except ValueError:  # a port that is no number
        return False
    hosts = (a.hostname or "").lower(), (b.hostname or "").lower()
    return (a.scheme.lower() == b.scheme.lower() and ports[0] == ports[1]
            and a.path.rstrip("/") == b.path.rstrip("/")
            and (hosts[0] == hosts[1] or (hosts[0] in LOOPBACK_HOSTS and hosts[1] in LOOPBACK_HOSTS)))


class Connection(StrEnum):
    """How Codex stands towards this gateway (the ``state`` of ``get_codex_setup``)."""

    CONNECTED = "connected"
    TOKEN_OUT_OF_DATE = "token_out_of_date"  # pointed here, but auth.json holds another token, or none
    NOT_CONNECTED = "not_connected"


def connection_state(home: Path, gateway_url: str, token: str) -> Connection:
    if not _points_here(home, gateway_url):
        return Connection.NOT_CONNECTED
    auth = _read_auth(home / "auth.json") or {}
    return Connection.CONNECTED if auth.get("OPENAI_API_KEY") == token else Connection.TOKEN_OUT_OF_DATE


def describe(home: Path, gateway_url: str, token: str) -> dict[str, Any]:
    state = connection_state(home, gateway_url, token)
    return {
        "codex_home": str(home),
        "config_path": str(home / "config.toml"),
        "auth_path": str(home / "auth.json"),
        "config_block": config_block(gateway_url),
        "auth_json": auth_json(token),
        "configured": state is Connection.CONNECTED,
        "state": state,
        "has_backup": (home / BACKUP_DIR / "manifest.json").is_file(),
    }


def apply(home: Path, gateway_url: str, token: str) -> dict[str, Any]:
    config_path = home / "config.toml"
    new_config = merged_config(_read_config(config_path), gateway_url, config_path)
    for name in FILES:
        _check_writable(home / name)
    state = connection_state(home, gateway_url, token)
    if state is not Connection.CONNECTED:
        _backup(home)
    _replace(config_path, new_config.encode("utf-8"))
    _write_token(home, token)
    return describe(home, gateway_url, token)


def _check_writable(path: Path) -> None:
    """Checked before either file is written, so that Codex is not left half connected. A file the user
    made read-only is not rewritten (replacing it would also undo the protection)."""
    try:
        mode = path.stat().st_mode  # a symlink's target: what a write goes to
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise CodexSetupError(f"{path} is a folder, where Codex expects a file; move it away first")
    if not stat.S_ISREG(mode):
        raise CodexSetupError(f"{path} is not a regular file (a pipe or a device); move it away first")
    if made_read_only(mode):
        raise CodexSetupError(f"{path} is read-only; make it writable first if API Router should change it")


def update_token(home: Path, gateway_url: str, old_token: str, new_token: str) -> bool:
    """After a token rotation: when Codex was connected with the old token, give its auth.json the new one
    in its place (the rest of the file — one written by hand may hold a login too — and the backup of the
    user's own files are left as they are). True when auth.json was rewritten; CodexSetupError when it
    is read-only or no file."""
    if connection_state(home, gateway_url, old_token) is not Connection.CONNECTED:
        return False
    path = home / "auth.json"
    _check_writable(path)
    auth = _read_auth(path) or {}
    auth["OPENAI_API_KEY"] = new_token
    _replace(path, (json.dumps(auth, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return True


def _write_token(home: Path, token: str) -> None:
    """auth.json holding only ``token`` (UTF-8, no BOM): a ChatGPT login left in it would take precedence
    over the key for Codex, and the user's own file is in the backup."""
    _replace(home / "auth.json", auth_json(token).encode("utf-8"))


def _replace(path: Path, data: bytes) -> None:
    """One of Codex's files replaced with ``data``, private; temp files an earlier write of it left when
    the app was killed mid-way (they may hold a gateway token) go first."""
    remove_stale_temp_files(path)
    atomic_write(path, data, mode=0o600)


def _written_by_us(home: Path, name: str) -> bool:
    """Whether Codex's file ``name`` is one API Router wrote: an auth.json holding nothing but a gateway
    token (this one, or one from before a rotation), or a config.toml pointed at an API Router (this
    address or an earlier one: the port may have changed since)."""
    if name == "config.toml":  # whatever its block was given since (an env_key): never the user's own
        return _points_here(home, None, key_from_auth_json=False)
    auth = _read_auth(home / name)
    return auth is not None and list(auth) == ["OPENAI_API_KEY"] and TOKEN_RE.match(str(auth["OPENAI_API_KEY"])) \
        is not None


def _backup(home: Path) -> None:
    """Keep the user's own files before API Router writes Codex's. A file API Router wrote itself is not
    backed up over the user's copy already in the backup: after the user pointed Codex elsewhere by
    hand, connecting again would otherwise replace their login with the gateway token."""
    folder = home / BACKUP_DIR
    previous = _manifest(folder)
    private_dir(folder)  # Codex's folder too, where missing: what lies here goes into Codex's config on Restore
    existed = {}
    for name in FILES:
        if previous is not None and _written_by_us(home, name):
            existed[name] = previous[name]  # the user's copy stays
            continue
        source = home / name
        existed[name] = source.is_file()
        if existed[name]:
            atomic_write(folder / name, read_file(source), mode=0o600)
        else:
            (folder / name).unlink(missing_ok=True)
    manifest = {"unix_ms": now_ms(), "existed": existed}
    atomic_write(folder / "manifest.json", json.dumps(manifest).encode())


def _manifest(folder: Path) -> dict[str, bool] | None:
    """Which files existed when the backup in ``folder`` was made (None: there is no usable backup)."""
    try:
        existed = json.loads((folder / "manifest.json").read_text())["existed"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(existed, dict) or any(not isinstance(existed.get(name), bool) for name in FILES):
        return None
    return {name: existed[name] for name in FILES}


def restore(home: Path, gateway_url: str, token: str) -> dict[str, Any]:
    folder = home / BACKUP_DIR
    existed = _manifest(folder)
    if existed is None:
        raise CodexSetupError(f"there is no API Router backup in {folder}")
    for name in FILES:
        target = home / name
        if existed[name]:
            _replace(target, (folder / name).read_bytes())
        else:
            remove_stale_temp_files(target)  # none is written again: what a killed write left goes now
            if target.is_file():
                target.unlink()  # the file did not exist before API Router wrote it
    shutil.rmtree(folder)
    return describe(home, gateway_url, token)
