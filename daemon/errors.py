"""Errors of the daemon, turned into one-line CLI errors at the edge (``arsip daemon``)."""


class DaemonError(Exception):
    """The daemon cannot run (another daemon is running on the archive): exit status 1."""


class LogFileError(DaemonError):
    """The daemon's log file cannot be written (a bad ``--log-file``): exit status 2."""
