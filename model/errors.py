"""The one error type for problems a user can cause (bad files, bad config values)."""

from __future__ import annotations


class PoseDiffError(Exception):
    """A user-caused error; its message is one line naming the file/key, expected and found.

    The CLI prints it on stderr (no traceback) and exits with code 2.
    """

    def __init__(self, where: str, expected: str, found: str) -> None:
        self.where, self.expected, self.found = where, expected, found
        super().__init__(f"{where}: expected {expected}, found {found}")

    def __reduce__(self) -> tuple[type[PoseDiffError], tuple[str, str, str]]:
        """Pickle by the three parts (crosses Ray's process boundaries intact)."""
        return (type(self), (self.where, self.expected, self.found))
