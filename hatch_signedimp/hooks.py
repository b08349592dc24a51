"""Entry point of the `hatch` plugin group: tells hatchling about the `signedimp` build hook."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from .plugin import SignedImpBuildHook


@hookimpl
def hatch_register_build_hook() -> type[SignedImpBuildHook]:
    return SignedImpBuildHook
