"""Which build hooks run after this one and could still change the wheel once it is signed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _overrides_finalize(hook_class: Any) -> bool:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface

    try:
        if not issubclass(hook_class, BuildHookInterface):
            return True  # e.g. `custom`, which stands in for a class we cannot see yet
        return hook_class.finalize is not BuildHookInterface.finalize
    except TypeError:
        return True


def hooks_after(name: str, hook_names: Sequence[str], plugin_manager: Any = None) -> list[str]:
    """The hooks configured after ``name`` whose ``finalize`` may rewrite the artifact.

    Hooks known not to override ``finalize`` (hatchling's `version` hook, say) are left out; when in
    doubt a hook is kept, since a false warning costs less than a silently broken signature.
    """
    names = list(hook_names)
    if name not in names:
        return []
    later = names[names.index(name) + 1 :]
    if plugin_manager is None:
        return later
    result = []
    for other in later:
        try:
            hook_class = plugin_manager.build_hook.get(other)
        except Exception:  # noqa: BLE001 - a broken plugin is not our failure to report
            hook_class = None
        if hook_class is None or _overrides_finalize(hook_class):
            result.append(other)
    return result
