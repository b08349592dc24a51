"""Errors the build hook raises: one type per kind of mistake, so a build log says what to fix."""

from __future__ import annotations

from collections.abc import Sequence


class BuildHookError(Exception):
    """A build that the `signedimp` hook refuses to finish (nothing unsigned is left behind)."""


class ConfigurationError(BuildHookError, ValueError):
    """One or more options of the hook are wrong; ``errors`` holds one message per problem.

    All problems are reported together so that a user fixes the table in one go instead of
    discovering the mistakes one build at a time.
    """

    def __init__(self, errors: Sequence[str], plugin_name: str = "signedimp") -> None:
        self.errors = tuple(errors)
        if len(self.errors) == 1:
            message = self.errors[0]
        else:
            lines = "\n".join(f"  - {error}" for error in self.errors)
            message = f"Build hook `{plugin_name}` has {len(self.errors)} configuration errors:\n{lines}"
        super().__init__(message)


class SigningKeyError(BuildHookError):
    """The signing key is missing, unreadable, encrypted without a passphrase, or not private."""
