"""Which Codex files are API Router's own: other key sources are not, a login beside the token is the user's."""
import json
import tomllib

import pytest

from api_router.codex import setup

URL = "http://127.0.0.1:4000/v1"
TOKEN = "ao_" + "1" * 32


@pytest.mark.parametrize("elsewhere", ['gateway_oauth = { issuer = "x" }\n', 'aws = { profile = "default" }\n'])
def test_gateway_oauth_and_aws_blocks_are_not_connected(tmp_path, elsewhere):
    (tmp_path / "config.toml").write_text(f'model_provider = "api_router"\n\n[model_providers.api_router]\nname = "Mine"\n'
                                          f'base_url = "{URL}"\nwire_api = "responses"\nrequires_openai_auth = true\n{elsewhere}')
    (tmp_path / "auth.json").write_text(setup.auth_json(TOKEN))
    assert setup.connection_state(tmp_path, URL, TOKEN) == "not_connected"
    setup.apply(tmp_path, URL, TOKEN)
    assert tomllib.loads((tmp_path / "config.toml").read_text())["model_providers"]["api_router"] == setup.provider_values(URL)


def test_an_auth_json_with_a_login_beside_the_token_is_the_users_and_backed_up(tmp_path):
    (tmp_path / "auth.json").write_text(json.dumps({"tokens": {"id_token": "first"}}))
    setup.apply(tmp_path, URL, TOKEN)
    (tmp_path / "config.toml").write_text('model_provider = "elsewhere"\n')  # pointed elsewhere by hand
    mine = {"OPENAI_API_KEY": TOKEN, "tokens": {"id_token": "second"}}
    (tmp_path / "auth.json").write_text(json.dumps(mine))
    setup.apply(tmp_path, URL, TOKEN)
    assert json.loads((tmp_path / setup.BACKUP_DIR / "auth.json").read_text()) == mine
