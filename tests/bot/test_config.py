from pathlib import Path

import pytest

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


def test_rate_limits_come_from_the_bot_section_and_the_web_chat_is_more_generous():
    shipped = BotConfig.load(REPO / "config.toml")
    assert (shipped.rate_limit_burst, shipped.rate_limit_per_minute) == (10, 4.0)
    assert shipped.web_rate_limit_burst > shipped.rate_limit_burst
    assert shipped.web_rate_limit_per_minute > shipped.rate_limit_per_minute


def test_a_bad_rate_limit_is_refused_by_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[bot]\nrate_limit_burst = "ten"\n')
    with pytest.raises(ValueError, match=r"\[bot\] rate_limit_burst must be a number, 0 or more"):
        BotConfig.load(path)
    path.write_text("[bot]\nweb_rate_limit_per_minute = -1\n")
    with pytest.raises(ValueError, match="web_rate_limit_per_minute"):
        BotConfig.load(path)


def test_the_image_format_is_png_or_jpeg_and_the_shipped_bot_asks_jpeg(tmp_path):
    assert BotConfig().image_format == "png"
    assert BotConfig.load(REPO / "config.toml").image_format == "jpeg"
    path = tmp_path / "c.toml"
    path.write_text('[bot]\nimage_format = "gif"\n')
    with pytest.raises(ValueError, match=r"\[bot\] image_format must be one of png, jpeg, got 'gif'"):
        BotConfig.load(path)
