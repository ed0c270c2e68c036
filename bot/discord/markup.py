"""A reply's parts in Discord's markup: **bold** headings, <@user> mentions, <#channel> links and
jump links to posted mascots."""

from __future__ import annotations

from bot.core.richtext import ChannelRef, Heading, PostRef, Renderer, UserRef


class DiscordMarkup(Renderer):
    def heading(self, heading: Heading) -> str:
        return f"**{heading.text}**"

    def user(self, ref: UserRef) -> str:
        return f"<@{ref.user}>" if ref.platform == "discord" else ref.user

    def channel(self, ref: ChannelRef) -> str:
        return f"<#{ref.channel}>"

    def post(self, ref: PostRef) -> str:
        if ref.platform != "discord" or not ref.message or not ref.channel:
            return ""
        return f" https://discord.com/channels/{ref.guild or '@me'}/{ref.channel}/{ref.message}"


DISCORD = DiscordMarkup()
