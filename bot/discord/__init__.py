"""The Discord front-end (discord.py 2.7)."""
