"""Every slash command's options as Discord is sent them: names, descriptions, requiredness, choices and
which ones autocomplete. The schema-built commands (options.py) are checked on a schema with what
Discord limits: an attribute with more than 25 values, one whose name is no Python identifier, and
one named like an extra option; a value the model does not offer is not among the choices."""

from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.core.engine_client import AttributeSpec, Catalog, ModelInfo
from bot.discord.slash import PLAIN, schema_commands

MANY = tuple(f"c{i}" for i in range(30))
SCHEMA = (
    AttributeSpec("hair", "choice", ("red", "green", "blue"), offered=("red", "blue")),  # green: not offered
    AttributeSpec("smile", "flag", ("no", "yes")),
    AttributeSpec("eye-colour", "choice", MANY),
    AttributeSpec("model", "choice", ("x", "y")),
)
UNSET = "; unset = drawn from the training data"
HAIR = ("hair", "hair (red, blue)" + UNSET, False, False, ["red", "blue"])
SMILE = ("smile", "smile (no, yes)" + UNSET, False, False, ["no", "yes"])
EYES = ("eye-colour", "eye-colour (c0, c1, c2, c3, c4, c5, …)" + UNSET, False, True, [])
MODEL = ("model", "which model draws it (default: this server's)", False, True, [])
UNDESCRIBED_MODEL = ("model", "…", False, True, [])

EXPECTED = {
    "mascot": [
        ("seed", "same seed + same attributes = same mascot", False, False, []),
        ("count", "how many (1-4)", False, False, []),
        MODEL,
        HAIR,
        SMILE,
        EYES,
    ],
    "remix": [
        ("generation", "the id in a mascot's buttons or /top", True, False, []),
        HAIR,
        SMILE,
        EYES,
        ("model", "model (x, y)" + UNSET, False, False, ["x", "y"]),  # no extra option takes the name
    ],
    "morph": [
        ("mascot_a", "start: a mascot's id", False, False, []),
        ("mascot_b", "end: a mascot's id", False, False, []),
        ("seed_a", "start (instead of mascot_a)", False, False, []),
        ("seed_b", "end (instead of mascot_b)", False, False, []),
        ("frames", "length of the loop (2-64)", False, False, []),
        MODEL,  # the extra option, not the attribute of the same name
        HAIR,
        SMILE,
        EYES,
    ],
    "fuse": [
        ("a", "a mascot's id", True, False, []),
        ("b", "another mascot's id", True, False, []),
        ("take", "which parent an attribute comes from, like hair:a smile:b (else drawn)", False, False, []),
    ],
    "mascotify": [
        ("picture", "a PNG, JPEG or WebP picture (up to 8 MiB)", True, False, []),
        ("keep", "attributes to keep whatever the picture shows, like hair:blue smile:yes", False, False, []),
        UNDESCRIBED_MODEL,
    ],
    "collection": [],
    "top": [("period", "today, this week or ever", False, False, ["day", "week", "all"])],
    "mystats": [],
    "retrain": [],
    "rollback": [UNDESCRIBED_MODEL],
    "status": [],
    "settings": [
        ("model", "the model /mascot draws with in this server", False, True, []),
        ("allow_channel", "…", False, False, []),
        ("remove_channel", "…", False, False, []),
        ("share", "let every server use this server's own model (or stop)", False, False, []),
    ],
    "train": [
        ("channel", "take the pictures attached in this channel's last 500 messages", False, False, []),
        ("file1", "a picture (PNG, JPEG, WebP, GIF or SVG) or a zip of pictures", False, False, []),
        *(((f"file{i}", "…", False, False, [])) for i in range(2, 6)),
    ],
    "forget": [],
}


@pytest.fixture
def tree():
    model = ModelInfo("default", "v1", "dcgan", 64, SCHEMA, {}, None)
    bot = SimpleNamespace(core=SimpleNamespace(catalog=Catalog("default", (model,))))
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    for command in [*schema_commands(bot), *PLAIN]:
        tree.add_command(command)
    return tree


def _options(payload: dict) -> list[tuple]:
    return [
        (
            o["name"],
            o["description"],
            o.get("required", False),
            o.get("autocomplete", False),
            [c["value"] for c in o.get("choices", [])],
        )
        for o in payload.get("options", [])
    ]


def test_every_command_sends_discord_the_expected_options(tree):
    sent = {c.name: _options(c.to_dict(tree)) for c in tree.get_commands()}
    assert sent == EXPECTED


def test_renamed_options_reach_the_handler_by_their_schema_names(tree):
    params = {p.display_name: p for p in tree.get_command("mascot").parameters}
    assert params["eye-colour"].name == "attr_2" and params["model"].name == "model"
    assert params["eye-colour"].autocomplete and not params["hair"].autocomplete


def test_the_count_range_is_the_engines_advertised_limit():
    model = ModelInfo("default", "v1", "dcgan", 64, SCHEMA, {}, None)
    bot = SimpleNamespace(core=SimpleNamespace(catalog=Catalog("default", (model,), max_count=3)))
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    for command in schema_commands(bot):
        tree.add_command(command)
    count = next(o for o in tree.get_command("mascot").to_dict(tree)["options"] if o["name"] == "count")
    assert (count["min_value"], count["max_value"], count["description"]) == (1, 3, "how many (1-3)")
