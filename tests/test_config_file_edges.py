"""config.toml edges: a broken hand edit is reported once; 0.0.0.0 on the gateway's port is the gateway."""
import time

from api_router.config import ConfigFile, parse


def test_a_broken_hand_edit_left_in_place_is_reported_once(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[routing]\ncooldown_seconds = 5\n")
    cf, _ = ConfigFile.load(path)
    problems: list[str] = []
    cf.on_problem = problems.append
    path.write_text("[routing\ncooldown_seconds = \n")  # not TOML
    for _ in range(8):  # the watcher looks every half second
        cf.reload()
        time.sleep(0.01)
    assert len(problems) == 1, problems
    assert cf.current.routing.cooldown_seconds == 5


def test_a_base_url_at_0_0_0_0_on_the_gateways_port_is_api_router_itself():
    cfg, problems = parse({"listen": {"port": 4000}, "providers": {"p1": {"base_url": "http://0.0.0.0:4000/v1"}}})
    assert cfg.providers["p1"].base_url == "" and any("is API Router itself" in p.what for p in problems), problems
