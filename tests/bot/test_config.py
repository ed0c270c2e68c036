from pathlib import Path

from bot.config import BotConfig
from bot.core.commands import IMAGE_SIZE

REPO = Path(__file__).resolve().parents[2]


def test_image_size_defaults_to_512_and_comes_from_the_bot_section(tmp_path):
    assert BotConfig().image_size == 512 == IMAGE_SIZE
    path = tmp_path / "c.toml"
    path.write_text("[bot]\nimage_size = 256\n")
    assert BotConfig.load(path).image_size == 256
    assert BotConfig.load(path, image_size=128).image_size == 128
    path.write_text("[bot]\nweb_port = 1\n")
    assert BotConfig.load(path).image_size == 512


def test_the_shipped_config_sets_image_size():
    assert BotConfig.load(REPO / "config.toml").image_size == 512
    assert "image_size" in (REPO / "config.toml").read_text().split("[bot]")[1].split("[store]")[0]
