"""Connect Codex on the files users really have: dotted keys, a changed address, a login kept by hand."""

import json
import os
import stat
import threading
import tomllib

import pytest

from api_router.codex import setup

URL = "http://127.0.0.1:4000/v1"
TOKEN = "ao_" + "1" * 32
NEW_TOKEN = "ao_" + "2" * 32
OURS = {"model_provider": setup.PROVIDER_ID, "model_providers": {setup.PROVIDER_ID: setup.provider_values(URL)}}


def merged(data, ours=OURS):
    out = json.loads(json.dumps(data))
    out["model_provider"] = ours["model_provider"]
    out.setdefault("model_providers", {}).setdefault(setup.PROVIDER_ID, {}).update(
        ours["model_providers"][setup.PROVIDER_ID])
    return out


@pytest.mark.parametrize("original", [
    # providers written as dotted keys: tomlkit put the new table among them, and the keys after it moved in
    '# mine\nmodel = "o3"\nmodel_providers.openrouter.name = "OpenRouter"\n'
    'model_providers.openrouter.base_url = "https://openrouter.ai/api/v1"\n\n[profiles.x]\nmodel = "a"\n',
    'model_providers.openrouter.base_url = "https://openrouter.ai/api/v1"\nmodel_provider = "openrouter"\n',
    'model = "o3"\nmodel_providers = { openrouter = { name = "O" } }\n[profiles.x]\nmodel = "a"\n',
    '[model_providers]\nopenrouter.name = "O"\n',
    '[model_providers.openrouter]\nname = "O"\n[model_providers.api_router]\nname = "old"\n',
    'model_providers.api_router.base_url = "http://127.0.0.1:9/v1"\nx = nan\n',
])
def test_connect_codex_keeps_every_other_setting_whatever_the_layout(tmp_path, original):
    config = tmp_path / "config.toml"
    config.write_text(original)
    setup.apply(tmp_path, URL, TOKEN)
    got = tomllib.loads(config.read_text())
    want = merged(tomllib.loads(original.replace("nan", '"NaN"')))
    if "x" in want:  # NaN is no JSON: compared on its own
        assert got.pop("x") != got.get("x") and want.pop("x") == "NaN"
    assert got == want
    assert setup.connection_state(tmp_path, URL, TOKEN) == "connected"
    if original.startswith("# mine"):
        assert config.read_text().startswith("# mine\n")


def test_a_file_that_cannot_be_merged_is_refused_and_left_alone(tmp_path, monkeypatch):
    """When neither way of adding the block reads back as the user's settings plus ours, nothing is
    written and the snippet is to be added by hand (forced here: every text is taken as moving settings)."""
    from api_router.tomlfiles import TomlError

    def moves_settings(doc):
        raise TomlError("moved")

    monkeypatch.setattr(setup, "dumped", moves_settings)
    original = 'model = "o3"\nmodel_providers.openrouter.name = "OpenRouter"\n'
    config = tmp_path / "config.toml"
    config.write_text(original)
    with pytest.raises(setup.CodexSetupError, match="by hand"):
        setup.apply(tmp_path, URL, TOKEN)
    assert config.read_text() == original and not (tmp_path / "auth.json").exists()


def test_a_new_gateway_address_does_not_put_our_own_config_in_the_backup(tmp_path):
    """Connected, then the gateway's port changed (or --port 0): connecting again must keep the user's
    original config.toml in the backup, so Restore brings that back, not a Codex pointed at a dead port."""
    original = '# original\nmodel = "gpt-5"\nmodel_provider = "openai"\n'
    login = '{"tokens": {"id_token": "mine"}}'
    (tmp_path / "config.toml").write_text(original)
    (tmp_path / "auth.json").write_text(login)
    setup.apply(tmp_path, URL, TOKEN)
    other = "http://127.0.0.1:4111/v1"
    assert setup.connection_state(tmp_path, other, TOKEN) == "not_connected"
    setup.apply(tmp_path, other, TOKEN)
    setup.restore(tmp_path, other, TOKEN)
    assert (tmp_path / "config.toml").read_text() == original
    assert (tmp_path / "auth.json").read_text() == login


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_the_folders_connect_codex_makes_are_private_whatever_the_umask(tmp_path):
    """Under umask 000 (a headless start sets none) $CODEX_HOME and its backup folder came out 0777:
    another local user could slip a config.toml into the backup, and Restore would make it Codex's."""
    home = tmp_path / "codex-home"
    was = os.umask(0)
    try:
        setup.apply(home, URL, TOKEN)
    finally:
        os.umask(was)
    for folder in (home, home / setup.BACKUP_DIR):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_rotation_changes_only_the_key_of_an_auth_json_written_by_hand(tmp_path):
    """The README's by-hand set-up may leave a ChatGPT login beside the key: a rotation replaces the key
    and keeps the rest (there is no backup of a file the user wrote themselves)."""
    (tmp_path / "config.toml").write_text(setup.config_block(URL))
    auth = {"OPENAI_API_KEY": TOKEN, "tokens": {"id_token": "eyJ-mine", "refresh_token": "rt-keep"},
            "last_refresh": "2026-12-01T00:00:00Z"}
    (tmp_path / "auth.json").write_text(json.dumps(auth))
    assert setup.update_token(tmp_path, URL, TOKEN, NEW_TOKEN)
    assert json.loads((tmp_path / "auth.json").read_text()) == {**auth, "OPENAI_API_KEY": NEW_TOKEN}
    assert setup.connection_state(tmp_path, URL, NEW_TOKEN) == "connected"


@pytest.mark.parametrize("config", [
    setup.config_block(URL).replace("127.0.0.1", "localhost"),      # the address as the user wrote it
    setup.config_block(URL).replace("/v1", "/v1/"),
    'openai_base_url = "http://localhost:4000/v1"\n',               # the built-in provider, remote compaction
    'model_provider = "openai"\nopenai_base_url = "http://127.0.0.1:4000/v1"\n',
])
def test_codex_pointed_here_under_another_spelling_is_connected_and_follows_a_rotation(tmp_path, config):
    (tmp_path / "config.toml").write_text(config)
    (tmp_path / "auth.json").write_text(setup.auth_json(TOKEN))
    assert setup.connection_state(tmp_path, URL, TOKEN) == "connected"
    assert setup.connection_state(tmp_path, URL, NEW_TOKEN) == "token_out_of_date"
    assert setup.update_token(tmp_path, URL, TOKEN, NEW_TOKEN)
    assert json.loads((tmp_path / "auth.json").read_text())["OPENAI_API_KEY"] == NEW_TOKEN


@pytest.mark.parametrize("config", [
    setup.config_block(URL).replace("4000", "4001"), setup.config_block(URL).replace("127.0.0.1", "192.168.1.9"),
    setup.config_block(URL).replace("/v1", "/v2"), 'openai_base_url = "http://localhost:4000/v1"\nmodel_provider = "x"\n',
    'openai_base_url = "https://127.0.0.1:4000/v1"\n', 'model = "o3"\n',
])
def test_codex_pointed_elsewhere_is_not_connected(tmp_path, config):
    (tmp_path / "config.toml").write_text(config)
    (tmp_path / "auth.json").write_text(setup.auth_json(TOKEN))
    assert setup.connection_state(tmp_path, URL, TOKEN) == "not_connected"


@pytest.mark.parametrize("elsewhere", [
    'env_key = "MY_ROUTER_KEY"\nenv_key_instructions = "export it"\n',
    'experimental_bearer_token = "ao_00000000000000000000000000000000"\n',
    'auth = { command = "print-token" }\n',
])
def test_a_block_that_takes_codexs_key_from_elsewhere_is_not_connected_and_writing_it_fixes_that(tmp_path, elsewhere):
    """Codex sends the key an env_key variable, a token in the block or a command gives it, not auth.json's:
    such a block is not connected whatever auth.json holds, and Write Codex config takes those settings out
    of API Router's block (keeping the user's others) so that Codex sends the gateway token."""
    config = tmp_path / "config.toml"
    config.write_text(f'model = "o3"\n\n[model_providers.api_router]\nname = "Mine"\nbase_url = "{URL}"\n'
                      f'wire_api = "responses"\nrequires_openai_auth = true\nstream_max_retries = 9\n{elsewhere}')
    (tmp_path / "auth.json").write_text(setup.auth_json(TOKEN))
    assert setup.connection_state(tmp_path, URL, TOKEN) == "not_connected"
    setup.apply(tmp_path, URL, TOKEN)
    block = tomllib.loads(config.read_text())["model_providers"]["api_router"]
    assert block == {**setup.provider_values(URL), "stream_max_retries": 9}
    assert setup.connection_state(tmp_path, URL, TOKEN) == "connected"


def test_a_block_we_wrote_then_given_an_env_key_by_hand_never_replaces_the_users_file_in_the_backup(tmp_path):
    """Connected, then the user adds env_key to API Router's block (not connected any more): writing the config
    again must keep the user's original config.toml in the backup — the file with our block is ours."""
    original = '# original\nmodel = "gpt-5"\n'
    config = tmp_path / "config.toml"
    config.write_text(original)
    setup.apply(tmp_path, URL, TOKEN)
    config.write_text(config.read_text() + 'env_key = "API_ROUTER_TOKEN"\n')
    assert tomllib.loads(config.read_text())["model_providers"]["api_router"]["env_key"] == "API_ROUTER_TOKEN"
    assert setup.connection_state(tmp_path, URL, TOKEN) == "not_connected"
    setup.apply(tmp_path, URL, TOKEN)
    assert setup.connection_state(tmp_path, URL, TOKEN) == "connected"
    setup.restore(tmp_path, URL, TOKEN)
    assert config.read_text() == original


def test_a_hand_written_block_without_requires_openai_auth_is_not_connected(tmp_path):
    """Without it Codex sends no key at all (401 from the gateway), whatever auth.json holds."""
    (tmp_path / "config.toml").write_text(setup.config_block(URL).replace("requires_openai_auth = true\n", ""))
    (tmp_path / "auth.json").write_text(setup.auth_json(TOKEN))
    assert "requires_openai_auth" not in (tmp_path / "config.toml").read_text()
    assert setup.connection_state(tmp_path, URL, TOKEN) == "not_connected"


def test_a_rotation_leaves_a_read_only_auth_json_as_it_is(tmp_path):
    setup.apply(tmp_path, URL, TOKEN)
    auth = tmp_path / "auth.json"
    auth.chmod(0o400)
    before = auth.read_bytes()
    with pytest.raises(setup.CodexSetupError, match="read-only"):
        setup.update_token(tmp_path, URL, TOKEN, NEW_TOKEN)
    assert auth.read_bytes() == before and stat.S_IMODE(auth.stat().st_mode) == 0o400


@pytest.mark.parametrize("name", ["auth.json", "config.toml"])
def test_a_pipe_in_place_of_a_codex_file_is_refused_not_waited_on(tmp_path, name):
    """A FIFO under the name would block a read until some writer came: the UI asks every 10 s, and each
    call would have left a thread stuck for good."""
    setup.apply(tmp_path, URL, TOKEN)
    (tmp_path / name).unlink()
    os.mkfifo(tmp_path / name)
    outcome = []

    def calls():
        outcome.append(setup.describe(tmp_path, URL, TOKEN)["state"])
        outcome.append(setup.update_token(tmp_path, URL, TOKEN, NEW_TOKEN))
        try:
            setup.apply(tmp_path, URL, TOKEN)
        except (setup.CodexSetupError, OSError) as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=calls, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "a call waited on the pipe"
    # config.toml unreadable: not pointed here; auth.json unreadable: pointed here, its token unknown
    assert outcome[:2] == ["not_connected" if name == "config.toml" else "token_out_of_date", False]
    assert "not a regular file" in outcome[2] or name in outcome[2]
    assert stat.S_ISFIFO(os.stat(tmp_path / name).st_mode)  # left where it was


def test_temp_files_a_killed_write_left_in_codex_home_go_with_the_next_write(tmp_path):
    """A kill mid-write of auth.json left a temp file holding the gateway token beside it; nothing removed it."""
    left = [tmp_path / ".auth.json.4242.1.tmp", tmp_path / ".config.toml.4242.2.tmp"]
    tmp_path.mkdir(exist_ok=True)
    for tmp in left:
        tmp.write_text(f'{{"OPENAI_API_KEY": "{TOKEN}"}}')
    setup.apply(tmp_path, URL, TOKEN)
    assert not any(tmp.exists() for tmp in left)
    left[0].write_text("{")
    assert setup.update_token(tmp_path, URL, TOKEN, NEW_TOKEN)
    assert not left[0].exists()
    left[0].write_text(NEW_TOKEN)  # a restore writes no auth.json (there was none): its temp files go too
    setup.restore(tmp_path, URL, NEW_TOKEN)
    assert not left[0].exists() and not (tmp_path / "auth.json").exists()
