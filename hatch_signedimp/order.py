"""Which build hooks run after this one and could still change the wheel once it is signed."""

from __future__ import annotations

from collections.abc import Sequence

#: Hatchling's own hooks that never touch the finished artifact (no ``finalize``).
HARMLESS_HOOKS = frozenset({"version"})


def hooks_after(name: str, hook_names: Sequence[str]) -> list[str]:
    """The hooks configured after ``name`` that may rewrite the artifact in ``finalize()``.

    ``hook_names`` is hatchling's ``build_data["build_hooks"]`` (the run order, a documented field).
    Only hatchling's own `version` hook is known not to; any other is kept, since a false warning
    costs less than a silently broken signature.
    """
    names = list(hook_names)
    if name not in names:
        return []
    return [other for other in names[names.index(name) + 1 :] if other not in HARMLESS_HOOKS]
