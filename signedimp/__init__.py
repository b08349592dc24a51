"""signedimp: refuse to import code whose bytes a signed manifest does not vouch for.

This package is the runtime verifier and imports the standard library alone, so that it can
be embedded (see :func:`get_bootstrap_code`). Signing lives in :mod:`signedimp.tools`.
"""

from . import frozen
from .__about__ import __version__
from .errors import IntegrityCheckError, IntegrityCheckFailed, IntegrityCheckMissing, ManifestError
from .keys import Ed25519Key, RSAKey, load_public_key
from .manager import SignedImportManager
from .manifest import MANIFEST_NAME, Manifest

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


def get_bootstrap_code(keys) -> str:
    """One self-contained source text that installs the verifier pinned to ``keys``.

    Embed it verbatim in a zipapp's ``__main__.py`` or a frozen app's startup script.
    """
    from .tools._bootstrap import get_bootstrap_code as build  # a tool: it reads our own sources

    return build(keys)
