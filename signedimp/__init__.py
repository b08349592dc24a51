"""signedimp: refuse to import code whose bytes a signed manifest does not vouch for.

This package is the runtime verifier and imports the standard library alone, so that it can
be embedded (see :func:`get_bootstrap_code`). Signing lives in :mod:`signedimp.tools`.
"""

import sys

from . import submodules
from .errors import IntegrityCheckError, IntegrityCheckFailed, IntegrityCheckMissing, ManifestError
from .keys import Ed25519Key, load_public_key
from .manager import SignedImportManager

TYPE_CHECKING = False
if TYPE_CHECKING:  # executed on first use (submodules.py); named here for type checkers
    from . import frozen
    from .__about__ import __version__
    from .manifest import MANIFEST_NAME, Manifest
    from .rsa_key import RSAKey

__all__ = [
    "Ed25519Key",
    "IntegrityCheckError",
    "IntegrityCheckFailed",
    "IntegrityCheckMissing",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "RSAKey",
    "SignedImportManager",
    "get_bootstrap_code",
    "load_public_key",
    "__version__",
]


#: Public names defined by a module that runs on first use: name -> that module.
#: ``__version__`` too: one module search less at every ``import signedimp``.
_DEFERRED_NAMES = {
    "MANIFEST_NAME": "manifest",
    "Manifest": "manifest",
    "RSAKey": "rsa_key",
    "__version__": "__about__",
}


def __getattr__(name: str):
    """The runtime's deferred modules (``signedimp.frozen``) and the names they define."""
    package = sys.modules[__name__]
    if name in submodules.DEFERRED:
        return submodules.load(package, name)
    if name in _DEFERRED_NAMES:
        return getattr(submodules.load(package, _DEFERRED_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *submodules.DEFERRED, *_DEFERRED_NAMES})


if not submodules.can_defer(sys.modules[__name__]):  # e.g. imported from a zip: no files later
    submodules.load_all(sys.modules[__name__])


def get_bootstrap_code(keys) -> str:
    """One self-contained source text that installs the verifier pinned to ``keys``.

    Embed it verbatim in a zipapp's ``__main__.py`` or a frozen app's startup script.
    """
    from . import bootstrap_text

    return bootstrap_text.get_bootstrap_code(keys)
