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

from api_router.fsutil import atomic_write, made_read_only
from api_router.records import now_ms
from api_router.secrets import TOKEN_RE
from api_router.tomlfiles import loads, tomlkit

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

PROVIDER_ID = "api_router"
BACKUP_DIR = "api-router-backup"
FILES = ("config.toml", "auth.json")


class CodexSetupError(ValueError):
    pass


def provider_values(gateway_url: str) -> dict[str, Any]:
    return {"name": "API Router", "base_url": gateway_url, "wire_api": "responses", "requires_openai_auth": True}


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


def _read_config(path: Path) -> TOMLDocument:
    """The user's file as a document to merge into (comments and all)."""
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8-sig"))
    except Exception as exc:  # any tomlkit parse error
        raise CodexSetupError(f"{path} could not be parsed ({' '.join(str(exc).split())}); fix it or move it "
                              "away first — API Router does not overwrite a file it cannot read") from None


def _read_auth(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def merged_config(doc: TOMLDocument, gateway_url: str, path: Path | str = "config.toml") -> str:
    providers = doc.get("model_providers")
    if providers is not None and not isinstance(providers, MutableMapping):
        raise CodexSetupError(f"{path}: model_providers is not a table of providers; fix it first — API Router "
                              "does not overwrite a file whose settings it cannot merge into")
    if providers is not None and not isinstance(providers.get(PROVIDER_ID, {}), MutableMapping):
        raise CodexSetupError(f"{path}: model_providers.{PROVIDER_ID} is not a table; fix it or remove it first — "
                              "API Router does not overwrite a file whose settings it cannot merge into")
    doc["model_provider"] = PROVIDER_ID
    if providers is None:
        providers = doc["model_providers"] = tomlkit.table(is_super_table=True)
    if PROVIDER_ID not in providers:
        providers[PROVIDER_ID] = tomlkit.table()
    for key, value in provider_values(gateway_url).items():
        providers[PROVIDER_ID][key] = value
    return tomlkit.dumps(doc)


def _points_here(home: Path, gateway_url: str) -> bool:
    try:
        data = loads((home / "config.toml").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):  # missing, not UTF-8 or not TOML (TomlError): not pointed here
        return False
    providers = data.get("model_providers")
    block = providers.get(PROVIDER_ID) if isinstance(providers, Mapping) else None
    return (data.get("model_provider") == PROVIDER_ID and isinstance(block, Mapping)
            and block.get("base_url") == gateway_url and block.get("wire_api") == "responses")


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
        _backup(home, config_ours=state is Connection.TOKEN_OUT_OF_DATE)
    atomic_write(config_path, new_config.encode("utf-8"), mode=0o600)
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
    if made_read_only(mode):
        raise CodexSetupError(f"{path} is read-only; make it writable first if API Router should change it")


def update_token(home: Path, gateway_url: str, old_token: str, new_token: str) -> bool:
    """After a token rotation: when Codex was connected with the old token, give its auth.json the new one
    (the backup of the user's own files is left as it is). True when auth.json was rewritten."""
    if connection_state(home, gateway_url, old_token) is not Connection.CONNECTED:
        return False
    _write_token(home, new_token)
    return True


def _write_token(home: Path, token: str) -> None:
    """auth.json holding only ``token`` (UTF-8, no BOM): a ChatGPT login left in it would take precedence
    over the key for Codex, and the user's own file is in the backup."""
    atomic_write(home / "auth.json", auth_json(token).encode("utf-8"), mode=0o600)


def _written_by_us(home: Path, name: str, *, config_ours: bool) -> bool:
    """Whether Codex's file ``name`` is one API Router wrote: an auth.json holding nothing but a gateway
    token (this one, or one from before a rotation), or a config.toml already pointed here."""
    if name == "config.toml":
        return config_ours
    auth = _read_auth(home / name)
    return auth is not None and list(auth) == ["OPENAI_API_KEY"] and TOKEN_RE.match(str(auth["OPENAI_API_KEY"])) \
        is not None


def _backup(home: Path, *, config_ours: bool) -> None:
    """Keep the user's own files before API Router writes Codex's. A file API Router wrote itself is not
    backed up over the user's copy already in the backup: after the user pointed Codex elsewhere by
    hand, connecting again would otherwise replace their login with the gateway token."""
    folder = home / BACKUP_DIR
    previous = _manifest(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existed = {}
    for name in FILES:
        if previous is not None and _written_by_us(home, name, config_ours=config_ours):
            existed[name] = previous[name]  # the user's copy stays
            continue
        source = home / name
        existed[name] = source.is_file()
        if existed[name]:
            atomic_write(folder / name, source.read_bytes(), mode=0o600)
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
            atomic_write(target, (folder / name).read_bytes(), mode=0o600)
        elif target.is_file():
            target.unlink()  # the file did not exist before API Router wrote it
    shutil.rmtree(folder)
    return describe(home, gateway_url, token)
