"""SHA-256 and SHA-512 for the verifier, from whichever implementation costs least here.

OpenSSL (``_hashlib``) hashes five to seven times faster than the interpreter's own code
(``_sha2``; ``_sha256`` and ``_sha512`` before 3.12), but loading it costs about 4 ms of CPU
(libcrypto relocated, its providers set up): more than a small app's whole verification.
So the verifier hashes with OpenSSL once anything has loaded it, and otherwise with the
built-in module until ``BUILTIN_BUDGET`` bytes have been hashed in this process; a hash that
would pass it loads OpenSSL. A small app (one module, a short manifest) never pays for
OpenSSL; a large one pays at most 0.3 ms more than if it had loaded OpenSSL first (64 kB
hashed at ~200 MB/s instead of ~1.3 GB/s), and nothing more when its first check is already
large (a sealed site-packages' manifest of a few hundred lines). The digests are the same
whichever code computes them.

Both are imported through :func:`~signedimp.submodules.import_stdlib`, and a search for
either while a manager is installed is answered from the trusted standard library first
(``submodules.STDLIB_FIRST``): a file on ``sys.path`` named like them is never what the
verifier hashes with, and the verifier never imports one of them in the middle of
importlib's own search for it.
"""

import sys

from .submodules import import_stdlib

#: Bytes the built-in SHA-2 code may hash in a process before OpenSSL is loaded instead.
BUILTIN_BUDGET = 64 * 1024

#: The interpreter's own SHA-256 and SHA-512 modules (none of them loads OpenSSL).
if sys.version_info >= (3, 12):
    BUILTIN_MODULES = {"sha256": "_sha2", "sha512": "_sha2"}
else:
    BUILTIN_MODULES = {"sha256": "_sha256", "sha512": "_sha512"}
OPENSSL_MODULE = "_hashlib"

_hashed = 0  # bytes hashed by the built-in code so far
_no_openssl = False  # this interpreter has no _hashlib: the built-in code hashes everything


def sha256_hex(data) -> str:
    """The lowercase hex SHA-256 of ``data`` (bytes or any buffer: a mapping of a file)."""
    return _constructor("sha256", len(data))(data).hexdigest()


def sha256(data) -> bytes:
    """The SHA-256 of ``data``."""
    return _constructor("sha256", len(data))(data).digest()


def sha512(*parts) -> bytes:
    """The SHA-512 of the concatenation of ``parts``, without building it (a manifest's
    signed text can be large)."""
    state = _constructor("sha512", sum(map(len, parts)))(parts[0])
    for part in parts[1:]:
        state.update(part)
    return state.digest()


def ready() -> bool:
    """Whether hashing needs no import now: a SHA-256 module is loaded and initialised.

    A finder asking this in the middle of importlib's search may not import one (see
    :meth:`signedimp.roots.ManifestRoot.sealed_files`).
    """
    return _loaded(OPENSSL_MODULE) is not None or _loaded(BUILTIN_MODULES["sha256"]) is not None


def prepare() -> None:
    """Import what the next hash will use, if it is not loaded yet (the built-in module
    unless OpenSSL is loaded already): before a finder reads a manifest."""
    if not ready():
        _constructor("sha256", 0)


def _constructor(algorithm: str, size: int):
    """The hash constructor for ``size`` more bytes of ``algorithm``."""
    global _hashed, _no_openssl
    openssl = _loaded(OPENSSL_MODULE)
    if openssl is None:
        builtin = None
        if _no_openssl or _hashed + size <= BUILTIN_BUDGET or OPENSSL_MODULE in sys.modules:
            # (the last: another thread is importing OpenSSL right now; not waited for)
            builtin = _builtin(algorithm)
        if builtin is not None:
            _hashed += size
            return builtin
        try:
            openssl = import_stdlib(OPENSSL_MODULE)
        except ImportError:  # built without OpenSSL, or blocked: the built-in code for all
            _no_openssl = True
            builtin = _builtin(algorithm)
            if builtin is None:
                return getattr(import_stdlib("hashlib"), algorithm)
            return builtin
    return getattr(openssl, "openssl_" + algorithm)


def _builtin(algorithm: str):
    """The built-in constructor of ``algorithm``, or None where the build left it out."""
    try:
        return getattr(import_stdlib(BUILTIN_MODULES[algorithm]), algorithm)
    except (ImportError, AttributeError):
        return None


def _loaded(name: str):
    """The module ``name`` if it is imported and done running, else None."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module
