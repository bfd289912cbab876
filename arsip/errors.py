"""Errors that the CLI turns into one-line messages and exit codes."""


class UsageError(Exception):
    """A bad argument or option value: exit status 2."""


class CommandError(Exception):
    """The command could not do its job: exit status 1."""
