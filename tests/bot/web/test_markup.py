from bot.core.reply import Reply
from bot.core.richtext import Heading, PostRef, UserRef
from bot.web.markup import WEB


def test_the_web_chat_shows_headings_bold_and_no_discord_markup():
    reply = Reply.of([Heading("Top"), "\n1. by ", UserRef("7", "discord"), PostRef("discord", "1", "2", "3")])
    assert WEB.text(reply) == "**Top**\n1. by a Discord user"


def test_web_users_are_named_as_the_store_has_them():
    assert WEB.render([UserRef("web:ann", "web")]) == "web:ann"
