"""Domain errors of the storage layer, turned into one-line CLI errors at the edge."""


class StorageError(Exception):
    """The archive cannot be opened, migrated or written (message is safe to show)."""


class NotFound(StorageError):
    """No article (or run, or site) matches what was asked for."""
