from bot.core.reply import Reply
from bot.core.richtext import PLAIN, ChannelRef, Heading, PostRef, UserRef, joined

POSTED = PostRef("discord", "g1", "c1", "m1")


def test_plain_words_name_references_without_any_chat_markup():
    parts = [Heading("Top"), "\n1. by ", UserRef("7", "discord"), POSTED, " in ", ChannelRef("c1")]
    assert PLAIN.render(parts) == "Top\n1. by 7 in #c1"


def test_a_reply_of_parts_keeps_them_and_their_plain_text():
    reply = Reply.of(["made by ", UserRef("web:ann", "web")], ephemeral=True)
    assert (reply.text, reply.ephemeral, PLAIN.text(reply)) == ("made by web:ann", True, "made by web:ann")
    assert PLAIN.text(Reply("just words")) == "just words"


def test_joined_puts_the_separator_between_parts_only():
    assert joined([ChannelRef("a"), ChannelRef("b")]) == [ChannelRef("a"), ", ", ChannelRef("b")]
    assert joined([]) == []
