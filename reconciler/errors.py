"""The project's error types: every error a user sees says what went wrong and what to do.

`Transient` errors (a dropped connection, a timeout) may be retried; `Permanent` ones may not.
"""

from __future__ import annotations

__all__ = ["PermanentError", "ReconcilerError", "SourceError", "TransientError"]


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose.

    `hint` tells the user how to fix it; it is printed after the message.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class SourceError(ReconcilerError):
    """The desired state could not be read: never to be taken as "nothing is declared"."""


class TransientError(ReconcilerError):
    """A failure that may go away by itself (network drop, timeout): retried with backoff."""


class PermanentError(ReconcilerError):
    """A failure that will not go away by retrying (a failed upgrade, a refused input)."""
