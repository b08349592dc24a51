"""The verifying loader: each file is read once, checked, and the module built from those bytes.

``VerifyingLoader`` stands in for the loader the normal machinery found. It never asks that
loader to read anything: it reads the bytes itself through the root's
:class:`~signedimp.roots.ManifestRoot` (which refuses unlisted or modified files) and then
compiles the source, unmarshals the bytecode, or loads the extension from exactly those bytes.
Bytecode is only read when a trusted manifest lists it; then its hash is the proof of
freshness, so timestamps are not checked. Listed bytecode that is gone (a cleaned
``__pycache__``) or was written for another Python falls back to the listed source.
"""

import _imp
import os
import sys

from .errors import IntegrityCheckMissing
from .guard import exec_verified, mark_verified, run_verified, unmarshal_verified

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import SourceFileLoader
else:  # from the import system itself: importing importlib.machinery costs 0.7 ms
    SourceFileLoader = sys.modules["_frozen_importlib_external"].SourceFileLoader

__all__ = ["VerifyingLoader", "SOURCE", "BYTECODE", "EXTENSION"]

SOURCE, BYTECODE, EXTENSION = "source", "bytecode", "extension"

# The importlib helpers, taken from the frozen bootstrap that is always loaded (importing
# importlib.util or importlib.abc would pull in a dozen modules at every start).
_bootstrap_external = sys.modules[SourceFileLoader.__module__]
MAGIC_NUMBER: bytes = _bootstrap_external.MAGIC_NUMBER
decode_source = _bootstrap_external.decode_source


def code_from_bytecode(data: bytes, filename: str):
    """The code object in a ``.pyc`` image, or None when it was written for another Python.

    Not yet registered with the guard: the caller may still rename it (``_fix_co_filename``),
    and the guard knows code by its file name, so it registers the final object.
    """
    if len(data) < 16 or data[:4] != MAGIC_NUMBER:
        return None
    return unmarshal_verified(data, 16)


def resolve_folder_part(path: str) -> str:
    """``path`` with its folder part resolved (``realpath``); a last component that is a
    file name is kept, so a listed file that is a symlink is still read under its own name."""
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    head, tail = os.path.split(path)
    if tail in ("", os.curdir, os.pardir):
        return os.path.realpath(path)
    return os.path.join(os.path.realpath(head), tail)


class VerifyingLoader:
    """Loader for one module file below a signed root (see the module docstring)."""

    def __init__(self, name: str, root, rel: str, origin: str, kind: str, is_package: bool) -> None:
        self.name = name
        self.root = root
        self.rel = rel
        self.origin = origin
        self.kind = kind
        self._is_package = is_package

    def __repr__(self) -> str:
        return f"<VerifyingLoader {self.name!r} {self.kind} {self.origin!r}>"

    # -- importlib.abc.Loader ------------------------------------------------------------------

    def create_module(self, spec):
        if self.kind == EXTENSION:
            from . import extensions

            # The bytes are read (verified) by create_extension_module: a folder's file goes
            # straight into its sealed memfd and is hashed there.
            return run_verified(extensions.create_extension_module, spec, None, self.root, self.rel)
        return None

    def exec_module(self, module) -> None:
        if self.kind == EXTENSION:
            _imp.exec_dynamic(module)
            module.__file__ = self.origin
            return
        # Run by identity (guard.exec_verified): no registration of the code object needed.
        exec_verified(self._verified_code(), module.__dict__)

    # -- importlib.abc.InspectLoader / ExecutionLoader -----------------------------------------

    def get_code(self, fullname: str | None = None):
        if self.kind == EXTENSION:
            return None
        # Handed out (runpy, a debugger): registered, so that it may run wherever it is exec'd.
        return mark_verified(self._verified_code())

    def _verified_code(self):
        """The module's code object, made from verified bytes (not registered with the guard)."""
        if self.kind == BYTECODE:
            code = code_from_bytecode(self.root.read_verified(self.rel, self.name), self.origin)
            if code is None:
                raise ImportError(
                    f"bad magic number in {self.origin!r}: signed bytecode for another Python version"
                    " and no signed source beside it",
                    name=self.name,
                    path=self.origin,
                )
            return code
        root = self.root
        entry = root.entry
        for candidate in entry.bytecode_candidates(self.rel):
            if root.is_listed(candidate):
                # Read at once (no stat before): only when that fails is it asked whether the
                # listed bytecode is simply gone (a cleaned __pycache__: the source is used).
                try:
                    data = root.read_verified(candidate, self.name)
                except ImportError:
                    if entry.is_file(candidate):
                        raise
                    continue
                code = code_from_bytecode(data, self.origin)
                if code is not None:
                    if not hasattr(entry, "archive"):
                        # A folder: name the source as SourceFileLoader does (pip compiles in a
                        # staging folder); zips keep the compiled-in name, as zipimport does.
                        _imp._fix_co_filename(code, self.origin)  # type: ignore[attr-defined]
                    return code
        source = self.root.read_verified(self.rel, self.name)
        return compile(source, self.origin, "exec", dont_inherit=True)

    def get_source(self, fullname: str | None = None) -> str | None:
        if self.kind != SOURCE:
            return None
        return decode_source(self.root.read_verified(self.rel, self.name))

    def is_package(self, fullname: str | None = None) -> bool:
        return self._is_package

    def get_filename(self, fullname: str | None = None) -> str:
        return self.origin

    # -- importlib.abc.ResourceLoader ----------------------------------------------------------

    def get_data(self, path: str) -> bytes:
        """Bytes of a file below this module's root (``pkgutil.get_data``), verified.

        A file that no trusted manifest lists and that is not there either is only absent:
        ``FileNotFoundError``, as the loader protocol says and as in frozen apps, so that code
        probing for an optional data file carries on. One that is there is refused; a listed
        one that is gone, or one of a root whose manifest was rejected, is IntegrityCheckFailed.
        """
        rel = self.relative(path)
        try:
            return self.root.read_verified(rel, self.name)
        except IntegrityCheckMissing:
            entry = self.root.entry
            if entry.is_file(rel) or entry.is_dir(rel):
                raise
        raise FileNotFoundError(2, "No such file or directory", path)

    def relative(self, path: str) -> str:
        """``path`` as a manifest path relative to the root; IntegrityCheckMissing if outside it.

        Both are resolved first (symlinks and ``..`` in the folder part, as the kernel will
        follow them): a path is below the root only if the folder it names is.
        """
        root = self.root.path
        full = resolve_folder_part(path)
        prefix = self.root.entry.real.rstrip(os.sep) + os.sep
        if not full.startswith(prefix):
            raise IntegrityCheckMissing(f"outside the signed root {root}", module=self.name, file=path)
        return full[len(prefix) :].replace(os.sep, "/")

    def get_resource_reader(self, fullname: str | None = None):
        """Resources of the package, or of a plain module's folder (``files(module)`` on 3.12+)."""
        folder = self.rel.rpartition("/")[0]
        from . import resources

        return resources.VerifiedResourceReader(self.root, folder, self.name)


# warnings.warn(stacklevel=N) skips the import system's frames (file names holding "importlib"
# and "_bootstrap"); exec_module's frame is skipped the same way, so a warning raised while a
# module is imported names the importing line, as with the stock loader, not this file.
VerifyingLoader.exec_module.__code__ = VerifyingLoader.exec_module.__code__.replace(
    co_filename=f"<signedimp importlib._bootstrap {__file__}>"
)


class NamespaceLoader:
    """Loader for a namespace package: it has no code, but its resources are read verified.

    ``portions()`` returns the verified views of the package's folders; ``path`` is the live
    ``__path__`` (it follows ``sys.path``), so the views are built on each use.
    """

    def __init__(self, name: str, path, portions) -> None:
        self.name = name
        self._path = path
        self._portions = portions

    def __repr__(self) -> str:
        return f"<signedimp NamespaceLoader {self.name!r}>"

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        module.__file__ = None  # as the stock namespace loader leaves it

    def is_package(self, fullname: str | None = None) -> bool:
        return True

    def get_source(self, fullname: str | None = None) -> str:
        return ""

    def get_code(self, fullname: str | None = None):
        return compile("", "<string>", "exec", dont_inherit=True)

    def get_resource_reader(self, fullname: str | None = None):
        from . import resources

        return resources.NamespaceResourceReader(self._portions(self.name, list(self._path)))


class TrustedSourceLoader(SourceFileLoader):
    """A trusted standard-library module whose bytecode cache lies outside the trusted folders.

    With ``sys.pycache_prefix`` (``PYTHONPYCACHEPREFIX``) set, the stock loader would read the
    module's ``.pyc`` from anywhere; this one compiles the trusted source and writes nothing.
    """

    def get_data(self, path: str) -> bytes:
        if path != self.path:
            raise OSError(f"{path}: bytecode outside the trusted folders is not read")
        return super().get_data(path)

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:  # type: ignore[override]
        pass
