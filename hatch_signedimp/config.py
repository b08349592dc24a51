"""The hook's options: parsed lazily from its table, validated with hatchling-style messages.

Each property reads ``config`` on first use and raises a :class:`ConfigurationError` naming its
option; :meth:`HookOptions.validate` reads them all and reports every problem at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from .errors import ConfigurationError

PLUGIN_NAME = "signedimp"

DEFAULT_KEY_ENV = "SIGNEDIMP_KEY"
DEFAULT_PASSPHRASE_ENV = "SIGNEDIMP_KEY_PASSPHRASE"

#: The options this hook understands.
OPTIONS = ("key-file", "key-env", "passphrase-env", "require-key")
#: Options that hatchling (or Hatch) reads from every build hook's table.
HATCH_OPTIONS = (
    "enable-by-default",
    "dependencies",
    "require-runtime-dependencies",
    "require-runtime-features",
)


class HookOptions:
    """The validated options of one ``[tool.hatch.build.hooks.signedimp]`` table."""

    def __init__(self, config: Mapping[str, Any], root: str, plugin_name: str = PLUGIN_NAME) -> None:
        self.config = config
        self.root = root
        self.plugin_name = plugin_name

    def _error(self, option: str, problem: str) -> ConfigurationError:
        return ConfigurationError(
            [f"Option `{option}` for build hook `{self.plugin_name}` {problem}"], self.plugin_name
        )

    def _string(self, option: str, default: str | None) -> str | None:
        value = self.config.get(option, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._error(option, "must be a string")
        if not value.strip():
            raise self._error(option, "cannot be an empty string")
        return value

    def _env_name(self, option: str, default: str) -> str:
        value = self._string(option, default)
        assert value is not None
        if "=" in value or "\0" in value or value != value.strip():
            raise self._error(option, f"must be the name of an environment variable, not {value!r}")
        return value

    @cached_property
    def key_file(self) -> str | None:
        """The key file as written in the table (``None`` when not set)."""
        return self._string("key-file", None)

    @cached_property
    def key_path(self) -> str | None:
        """``key-file`` made absolute: ``~`` expanded, relative paths resolved against the root."""
        if self.key_file is None:
            return None
        path = os.path.expanduser(self.key_file)
        return os.path.normpath(os.path.join(self.root, path))

    @cached_property
    def key_env(self) -> str:
        """The environment variable holding the private key's PEM text."""
        return self._env_name("key-env", DEFAULT_KEY_ENV)

    @cached_property
    def passphrase_env(self) -> str:
        """The environment variable holding the passphrase of an encrypted key."""
        name = self._env_name("passphrase-env", DEFAULT_PASSPHRASE_ENV)
        if self.config.get("key-env", DEFAULT_KEY_ENV) == name:
            problem = f"must name another variable than option `key-env` (`{name}`)"
            raise self._error("passphrase-env", problem)
        return name

    @cached_property
    def require_key(self) -> bool:
        """Whether a build without a key fails (true) or leaves the wheel unsigned (false)."""
        value = self.config.get("require-key", True)
        if not isinstance(value, bool):
            raise self._error("require-key", "must be a boolean")
        return value

    def unknown_option_errors(self) -> list[str]:
        """One message per option this hook and hatchling do not know, with a suggestion."""
        known = ", ".join(f"`{name}`" for name in OPTIONS)
        errors = []
        for name in self.config:
            if name in OPTIONS or name in HATCH_OPTIONS:
                continue
            import difflib  # only on the error path

            message = f"Unknown option `{name}` for build hook `{self.plugin_name}`"
            close = difflib.get_close_matches(str(name).replace("_", "-"), OPTIONS, n=1)
            if close:
                message += f" (did you mean `{close[0]}`?)"
            errors.append(f"{message}; known options: {known}")
        return errors

    def validate(self) -> None:
        """Read every option; raise one :class:`ConfigurationError` listing all problems."""
        errors = self.unknown_option_errors()
        for prop in ("key_file", "key_env", "passphrase_env", "require_key"):
            try:
                getattr(self, prop)
            except ConfigurationError as error:
                errors.extend(error.errors)
        if errors:
            raise ConfigurationError(errors, self.plugin_name)
