"""Domain errors. Library code raises these; only the CLI and the UI turn them into messages."""


class ShoeboxError(Exception):
    """Base class: the message is meant to be shown to the user as one line."""


class BadInputError(ShoeboxError):
    """A path, file or argument the user gave cannot be used."""


class LibraryError(ShoeboxError):
    """The library folder cannot be opened or used."""


class LibraryTooNewError(LibraryError):
    """The library was written by a newer Shoebox; opening it could lose data."""


class LibraryBusyError(LibraryError):
    """Another process holds the library's writer lock."""


class ModelUnavailableError(ShoeboxError):
    """A model's weights are missing and cannot be downloaded; ``hint`` says which file to put where."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Cancelled(ShoeboxError):
    """Raised at a checkpoint after the user asked to stop."""


class ModelProcessError(ModelUnavailableError):
    """The separate model process died or was stopped: semantic features are off, the rest works."""
