"""Domain errors of the storage layer, turned into one-line CLI errors at the edge."""


class StorageError(Exception):
    """The archive cannot be opened, migrated or written (message is safe to show)."""


class NotFound(StorageError):
    """No article (or run, or site) matches what was asked for."""


class DatabaseURLError(StorageError):
    """The database URL cannot be used as given: unparseable, an unknown backend, or a driver
    that is not installed. A configuration error (the CLI exits 2, as for a bad config)."""


class NoArchive(StorageError):
    """A reader found no archive where the database URL points (nothing was created)."""
