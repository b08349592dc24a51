"""The `signedimp` build hook: sign every wheel hatchling builds, keep the key out of every artifact.

It uses hatchling's documented hook interface only (``root``, ``config``, ``target_name``, ``app``,
``build_data["build_hooks"]``, ``initialize``/``finalize``), so a new hatchling cannot silently
change what it does.
"""

from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

from .config import PLUGIN_NAME, HookOptions
from .errors import BuildHookError, SigningKeyError
from .exclusion import exclude_hint, find_key_in_artifact, relative_to_root
from .keysource import KeySource, built_from_sdist, resolve_key, sdist_key_error
from .order import hooks_after

__all__ = ["PLUGIN_NAME", "SignedImpBuildHook"]


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


#: Marks an unsigned wheel moved aside while the hook signs it: ``.NAME.whl<mark><pid>``.
UNSIGNED_MARK = ".signedimp-unsigned-"


def set_aside(artifact_path: str) -> str:
    """Rename the unsigned wheel to ``.NAME.whl.signedimp-unsigned-<pid>`` beside it (hidden, and
    not ending in ``.whl``, so neither ``dist/*.whl`` nor pip nor twine takes it for a wheel);
    first remove such files, and the signer's temp files beside them, of earlier builds that were
    killed (their pid is gone)."""
    import re

    from signedimp.tools._atomic_write import _process_is_running

    directory, name = os.path.split(artifact_path)
    prefix = f".{name}{UNSIGNED_MARK}"
    stale = re.compile(r"\.?" + re.escape(prefix) + r"([0-9]+)(?:\..*)?")
    try:
        names = os.listdir(directory or os.curdir)
    except OSError:
        names = []
    for other in names:
        found = stale.fullmatch(other)
        if found and not _process_is_running(int(found.group(1))):
            _remove(os.path.join(directory, other))
    aside = os.path.join(directory, f"{prefix}{os.getpid()}")
    os.replace(artifact_path, aside)
    return aside


class SignedImpBuildHook(BuildHookInterface):
    """Signs the finished wheel in ``finalize()``; loads the key in ``initialize()`` so that a bad
    key fails the build before any wheel is written."""

    PLUGIN_NAME = PLUGIN_NAME

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__options: HookOptions | None = None
        self._signing: tuple[KeySource, Any] | None = None

    @property
    def options(self) -> HookOptions:
        """The hook's table, parsed on first use."""
        if self.__options is None:
            self.__options = HookOptions(self.config, self.root, self.PLUGIN_NAME)
        return self.__options

    # -- hatchling entry points -------------------------------------------------------------

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self.options.validate()
        self._signing = None

        if self.target_name == "sdist":  # left unsigned; finalize() refuses it if the key got in
            problem = sdist_key_error(self.options, self.root)
            if problem is not None:
                raise SigningKeyError(problem)
            return
        if self.target_name != "wheel":
            self.app.display_info(
                f"Build hook `{self.PLUGIN_NAME}` signs wheels only; the `{self.target_name}` target is "
                "left unsigned"
            )
            return
        if version == "editable":
            self.app.display_info(
                f"Build hook `{self.PLUGIN_NAME}`: skipping the editable wheel (it imports from the "
                "source tree, so there is nothing to sign); build a regular wheel to get a signed one"
            )
            return

        self._warn_about_later_hooks(build_data)
        self._refuse_leaked_key()

        decision = resolve_key(self.options, self.root)
        if decision.source is None or decision.key is None:
            self.app.display_warning(str(decision.unsigned_reason))
            return
        self._signing = (decision.source, decision.key)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.target_name == "sdist":
            self._check_no_key_in("sdist", artifact_path, self._key_file_bytes())
            return
        if self.target_name != "wheel" or version == "editable" or self._signing is None:
            return

        source, key = self._signing
        # hatchling has already put the unsigned wheel at its final name. Move it at once to a
        # hidden name that no `*.whl` pattern matches, sign it there, and move the signed wheel back:
        # a kill while signing leaves no file that looks like a finished wheel (see
        # docs/signing-faults.md for the window that remains, before this rename).
        aside = set_aside(artifact_path)
        try:
            if source.path is not None:  # a key file could have been collected into the wheel
                self._check_no_key_in("wheel", aside, source.pem, name=artifact_path)
            manifest = self._sign(aside, key)
            os.replace(aside, artifact_path)
        except BaseException:
            _remove(aside)  # never leave an unsigned (or half-signed) wheel behind
            raise
        self.app.display_info(
            f"Build hook `{self.PLUGIN_NAME}`: signed {os.path.basename(artifact_path)} "
            f"({len(manifest)} files) with {key.algorithm} key {key.fingerprint} from {source.description}"
        )

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _sign(artifact_path: str, key: Any) -> Any:
        from signedimp.tools import sign_wheel

        try:
            return sign_wheel(artifact_path, key)
        except BuildHookError:
            raise
        except Exception as error:
            msg = f"Build hook `signedimp`: signing {os.path.basename(artifact_path)} failed: {error}"
            raise BuildHookError(msg) from error

    def _key_relative_path(self) -> str | None:
        path = self.options.key_path
        return None if path is None else relative_to_root(path, self.root)

    def _key_file_bytes(self) -> bytes | None:
        path = self.options.key_path
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read() or None
        except OSError:
            return None

    def _check_no_key_in(
        self, target: str, artifact_path: str, secret: bytes | None, name: str | None = None
    ) -> None:
        if not secret:
            return
        member = find_key_in_artifact(artifact_path, secret, name)
        if member is None:
            return
        _remove(artifact_path)
        rel = self._leaked_path(target, member)
        msg = (
            f"Build hook `{self.PLUGIN_NAME}`: the private signing key ended up in the {target} as "
            f"`{member}`; the {target} was deleted. Keep the key file outside the project, list it in "
            f"`.gitignore`, or exclude it:\n{exclude_hint(target, rel)}\nand do not force-include it."
        )
        raise BuildHookError(msg)

    def _leaked_path(self, target: str, member: str) -> str:
        """The project path to exclude: in an sdist, the member found when the project has a file
        there (a copy of the key can sit anywhere); else the configured key file (a wheel remaps
        paths, and ``force-include`` can rename)."""
        if target == "sdist":
            _top, _, inside = member.replace("\\", "/").partition("/")
            if inside and os.path.isfile(os.path.join(self.root, *inside.split("/"))):
                return inside
        return self._key_relative_path() or "path/to/key.pem"

    def _refuse_leaked_key(self) -> None:
        """A key file inside an unpacked sdist means that sdist shipped the private key."""
        rel = self._key_relative_path()
        if rel is None or not built_from_sdist(self.root) or not os.path.isfile(str(self.options.key_path)):
            return
        msg = (
            f"Build hook `{self.PLUGIN_NAME}`: the private key file `{rel}` (option `key-file`) is inside "
            "this unpacked sdist, so that sdist contains the private signing key. Do not publish it; "
            f"configure the hook as [tool.hatch.build.hooks.{self.PLUGIN_NAME}] (it then keeps the key "
            f"out of sdists) or exclude the file:\n{exclude_hint('sdist', rel)}"
        )
        raise BuildHookError(msg)

    def _warn_about_later_hooks(self, build_data: dict[str, Any]) -> None:
        later = hooks_after(self.PLUGIN_NAME, build_data.get("build_hooks") or ())
        if later:
            listed = ", ".join(f"`{name}`" for name in later)
            self.app.display_warning(
                f"Build hook `{self.PLUGIN_NAME}` runs before build hook(s) {listed} for the wheel; if "
                "they change the wheel in `finalize()`, its signature will no longer match. Put the "
                f"`[tool.hatch.build.hooks.{self.PLUGIN_NAME}]` table after theirs in pyproject.toml."
            )
