"""The one exception type users see: a single line naming the file, field or value."""


class N2NError(Exception):
    """A user-facing error; the CLI prints ``error: <message>`` and exits with status 2."""
