from bot.core.reply import Reply
from bot.core.richtext import ChannelRef, Heading, PostRef, UserRef
from bot.discord.markup import DISCORD


def test_headings_bold_users_mentioned_channels_linked():
    reply = Reply.of([Heading("Top"), "\nby ", UserRef("7", "discord"), " in ", ChannelRef("55")])
    assert DISCORD.text(reply) == "**Top**\nby <@7> in <#55>"


def test_a_web_user_is_named_as_the_store_has_them():
    assert DISCORD.render([UserRef("web:ann", "web")]) == "web:ann"


def test_a_posted_mascot_gets_a_jump_link_and_an_unposted_one_none():
    assert DISCORD.render([PostRef("discord", "1", "2", "3")]) == " https://discord.com/channels/1/2/3"
    assert DISCORD.render([PostRef("discord", None, "2", "3")]) == " https://discord.com/channels/@me/2/3"
    assert DISCORD.render([PostRef("discord", "1", "2", None), PostRef("web", None, None, None)]) == ""


def test_a_reply_without_parts_is_its_text():
    assert DISCORD.text(Reply("**as written**")) == "**as written**"
