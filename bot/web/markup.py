"""A reply's parts as the web chat shows them: headings in the **bold** that chat.html turns into
<b>, people by name, and no jump links (they would lead into Discord; the id under each line is
what the chat's commands take)."""

from __future__ import annotations

from bot.core.richtext import Heading, Renderer, UserRef


class WebText(Renderer):
    def heading(self, heading: Heading) -> str:
        return f"**{heading.text}**"

    def user(self, ref: UserRef) -> str:
        return "a Discord user" if ref.platform == "discord" else ref.user


WEB = WebText()
