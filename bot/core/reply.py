"""What a command answers, independent of the chat platform that shows it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.richtext import PLAIN, Part


@dataclass(frozen=True)
class Caller:
    """Who asked, and where. ``user`` is the platform's user id (Discord snowflake, web name)."""

    user: str
    platform: str  # discord | web
    guild: str | None = None
    channel: str | None = None
    admin: bool = False


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    generation: str | None = None  # set when people can vote on this image


@dataclass(frozen=True)
class Reply:
    text: str
    files: tuple[Attachment, ...] = ()
    ephemeral: bool = False  # only the caller sees it (errors, personal stats)
    # What the files are, so a chat can offer the right buttons: "grid" (candidates to pick from,
    # vary or re-roll), "post" (one mascot to vote on, star, remix, vary), "thumbs" (a leaderboard),
    # "collection" (the caller's starred mascots, to remove from), "" (anything else).
    kind: str = ""
    # Set when the text names users, channels or posts, which each chat shows its own way
    # (bot/core/richtext.py); ``text`` is then their plain rendering.
    parts: tuple[Part, ...] = ()

    @classmethod
    def of(
        cls,
        parts: Iterable[Part],
        files: tuple[Attachment, ...] = (),
        *,
        ephemeral: bool = False,
        kind: str = "",
    ) -> Reply:
        """A reply written as parts (see ``parts``)."""
        parts = tuple(parts)
        return cls(PLAIN.render(parts), files, ephemeral=ephemeral, kind=kind, parts=parts)

    @property
    def generations(self) -> tuple[str, ...]:
        return tuple(f.generation for f in self.files if f.generation)


def oops(text: str) -> Reply:
    """An error or refusal: shown to the caller alone."""
    return Reply(text, ephemeral=True)
