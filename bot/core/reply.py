"""What a command answers, independent of the chat platform that shows it."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def generations(self) -> tuple[str, ...]:
        return tuple(f.generation for f in self.files if f.generation)


def oops(text: str) -> Reply:
    """An error or refusal: shown to the caller alone."""
    return Reply(text, ephemeral=True)
