"""The one error type a user sees: a sentence saying what was wrong and what is allowed.

Commands catch it at the top and print its message (no traceback, exit 2); the HTTP
service turns it into a 4xx. Anything else escaping is a bug.
"""


class MascotError(Exception):
    """A problem with the user's input or environment, worded for the user."""
