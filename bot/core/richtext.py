"""Reply text that names people, channels and posts without any one chat's markup.

Most answers are plain words. A few refer to things each chat shows its own way: a
heading (bold on Discord), a user (a mention on Discord), a channel, a posted mascot (a
jump link on Discord, nothing where there is no message to jump to). The core writes
those answers as a sequence of parts; each front end renders them with its own
``Renderer`` (bot/discord/markup.py, bot/web/markup.py). ``Renderer`` itself writes plain
words, which is what ``Reply.text`` holds for logs, tests and any other reader.

This module sits below ``bot/core/reply.py``: a reply is written in these parts, and a
renderer shows anything ``Written`` (a reply) without knowing the reply's other fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class UserRef:
    """A user by the platform's id (a Discord snowflake, or "web:name")."""

    user: str
    platform: str


@dataclass(frozen=True)
class ChannelRef:
    """A Discord channel by id (server settings name the channels mascots are made in)."""

    channel: str


@dataclass(frozen=True)
class PostRef:
    """Where a mascot was posted; ``message`` is None until a chat has posted it."""

    platform: str
    guild: str | None
    channel: str | None
    message: str | None


Part = str | Heading | UserRef | ChannelRef | PostRef


class Written(Protocol):
    """Text written as parts (a ``Reply``): ``parts`` empty means ``text`` is plain words."""

    @property
    def text(self) -> str: ...

    @property
    def parts(self) -> tuple[Part, ...]: ...


def joined(parts: Iterable[Part], separator: str = ", ") -> list[Part]:
    """``parts`` with ``separator`` between each two (", ".join for a list that may hold references)."""
    out: list[Part] = []
    for part in parts:
        if out:
            out.append(separator)
        out.append(part)
    return out


class Renderer:
    """How a chat writes each kind of part. This one writes plain words; front ends override it."""

    def text(self, written: Written) -> str:
        """What to show for ``written``: its parts rendered here, or its text when it has no parts."""
        return self.render(written.parts) if written.parts else written.text

    def render(self, parts: Iterable[Part]) -> str:
        return "".join(self.part(p) for p in parts)

    def part(self, part: Part) -> str:
        if isinstance(part, Heading):
            return self.heading(part)
        if isinstance(part, UserRef):
            return self.user(part)
        if isinstance(part, ChannelRef):
            return self.channel(part)
        if isinstance(part, PostRef):
            return self.post(part)
        return part

    def heading(self, heading: Heading) -> str:
        return heading.text

    def user(self, ref: UserRef) -> str:
        return ref.user

    def channel(self, ref: ChannelRef) -> str:
        return f"#{ref.channel}"

    def post(self, ref: PostRef) -> str:
        return ""  # plain text has nowhere to link to; the mascot's id is already in the line


PLAIN = Renderer()
