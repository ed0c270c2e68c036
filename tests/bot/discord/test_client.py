from discord.ext import commands

from bot.config import BotConfig
from bot.discord.client import MascotClient, ShardedMascotClient, make_client


async def test_sharding_uses_auto_sharded_bot_when_configured(core):
    plain, sharded = make_client(BotConfig(), core), make_client(BotConfig(shards=2), core)
    assert type(plain) is MascotClient and not isinstance(plain, commands.AutoShardedBot)
    assert isinstance(sharded, ShardedMascotClient) and isinstance(sharded, commands.AutoShardedBot)
    assert sharded.shard_count == 2


def test_settings_come_from_config_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[bot]\nadmins = [1, "2"]\nshards = 3\n[store]\npath = "x.db"\n')
    cfg = BotConfig.load(path, web_port=9)
    assert (cfg.admins, cfg.shards, cfg.store_path, cfg.web_port) == (("1", "2"), 3, "x.db", 9)
