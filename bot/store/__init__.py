"""The bot's SQLite store."""

from bot.store.store import Generation, Ranked, Store, UserStats

__all__ = ["Generation", "Ranked", "Store", "UserStats"]
