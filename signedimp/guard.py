"""The process-wide guard: code from a module file that the verifier did not check never runs.

The manager vets what the import system finds, but importlib also lets code load a file by
path (``spec_from_file_location`` + ``exec_module``, a loader used directly, ``runpy.run_path``,
``zipimport.zipimporter``, a finder put in a rebound ``sys.meta_path``). All of these end in the
same few operations, which PEP 578 audit hooks see process-wide:

- ``exec`` of a code object: refused when its ``co_filename`` names a module file (``.py``,
  ``.pyw``, ``.pyc``, ``.pyo``) outside the trusted paths and the code object is not one the
  verifier produced (:func:`mark_verified` keeps a weak registry of those, by file name).
- ``marshal.loads`` / ``marshal.load`` called by importlib's bytecode loader, by ``zipimport`` or
  by ``pkgutil.read_code`` (runpy): refused, before anything is unmarshalled, when the file or
  archive it reads is outside the trusted paths. Bytecode names its own file, so checking only
  at ``exec`` would let a ``.pyc`` claim to be ``<string>``.
- ``import`` with a file name (an extension module being loaded, ``_imp.create_dynamic``):
  refused outside the trusted paths unless the verifier is loading it (:func:`run_verified`).

An audit hook cannot be removed, so it is added once per process, on the first ``install()``,
and does nothing while no manager is installed. Every event of the process passes through it:
the fast path is one truth test and one set lookup. What is covered exactly, and what is not,
is in docs/threat-model.md.
"""

import _thread
import _weakref
import marshal
import os
import sys
import zipimport

from .errors import IntegrityCheckMissing

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: nothing more is imported by the verifier
    import types

__all__ = [
    "activate",
    "active_owners",
    "deactivate",
    "mark_verified",
    "run_verified",
    "is_module_file",
    "trust_own_file",
    "forget_decisions",
    "unmarshal_verified",
    "exec_verified",
]

#: Suffixes of files that hold Python code (source or bytecode) for the import system.
MODULE_SUFFIXES = (".py", ".pyw", ".pyc", ".pyo")

# Built from a tuple: a set display would be a frozenset constant, whose marshalled order
# follows the string hashes, and the zipapp's embedded runtime bytecode must be reproducible.
_WATCHED = frozenset(("exec", "marshal.loads", "marshal.load", "import"))

# (owner, is_trusted) for every installed manager, in install order; the last one decides.
_active: list = []
# co_filename -> weak references to the code objects the verifier produced from that file.
_produced: dict = {}
# File name -> whether the deciding manager trusts it (exec of trusted code is frequent).
_trusted_names: dict = {}
# File names whose code may run whoever made it: not a module file ("<string>", a template),
# or a trusted one. Cleared with _trusted_names; at most _EXEC_ALLOWED_MAX names.
_exec_allowed: dict = {}
_EXEC_ALLOWED_MAX = 4096
# The verifier's own module files (source and bytecode cache) that it loads on first use
# (signedimp/submodules.py): trusted as the verifier is, whatever the managers trust.
_own_files: set = set()
# Threads in which the verifier is loading an extension module it has verified.
_verifying: set = set()
_hook_added = False
_lock = _thread.allocate_lock()
# (bytes, size): the verified bytes whose last ``size`` bytes the verifier unmarshals now
# (unmarshal_verified), or None. One slot for all threads: another thread that takes it only
# sends this one's check down the slow path, and the slot is matched by content, not by who
# calls, so it can only ever let through bytes a trusted manifest lists.
_unmarshalling: tuple | None = None
# Thread ident -> the code object the verifier is about to ``exec`` in that thread
# (exec_verified): known by identity, with no registration of its own.
_executing: dict = {}
_get_ident = _thread.get_ident

# The callers whose marshal calls read a module's bytecode from a file (the frozen importlib is
# always loaded; zipimport is imported at start-up for the path hooks).
_bytecode_loader_code = sys.modules["_frozen_importlib_external"]._compile_bytecode.__code__
_zip_unmarshal_code = zipimport._unmarshal_code.__code__  # type: ignore[attr-defined]
# Frozen modules are part of the interpreter (trusted); their code may carry the file name of
# the machine that built it (a cx_Freeze executable's: /opt/python/.../importlib/_abc.py).
_frozen_exec_code = sys.modules["_frozen_importlib"].FrozenImporter.exec_module.__code__


# -- used by the manager and the verifying loader -------------------------------------------------


def activate(owner, is_trusted) -> None:
    """Start guarding for ``owner`` (a manager); ``is_trusted(path)`` says which files are exempt."""
    global _hook_added
    with _lock:
        if not _hook_added:
            sys.addaudithook(_audit)
            _hook_added = True
        _active[:] = [item for item in _active if item[0] is not owner] + [(owner, is_trusted)]
        _trusted_names.clear()
        _exec_allowed.clear()


def active_owners() -> list:
    """The managers the guard is guarding for now (the last one decides)."""
    with _lock:
        return [owner for owner, _ in _active]


def deactivate(owner) -> None:
    """Stop guarding for ``owner``; with no manager left the hook does nothing."""
    with _lock:
        _active[:] = [item for item in _active if item[0] is not owner]
        _trusted_names.clear()
        _exec_allowed.clear()


def mark_verified(code):
    """Register ``code`` (made by the verifier from verified bytes) as allowed to run; return it.

    Keyed by file name, not ``id()``: calling ``id`` raises an audit event of its own.
    """
    filename = code.co_filename

    def forget(ref, filename=filename):
        refs = _produced.get(filename)
        if refs is not None:
            try:
                refs.remove(ref)
            except ValueError:
                pass
            if not refs:
                _produced.pop(filename, None)

    _produced.setdefault(filename, []).append(_weakref.ref(code, forget))
    return code


def forget_decisions() -> None:
    """Forget which file names were trusted (``invalidate_caches``: a link may point elsewhere)."""
    with _lock:
        _trusted_names.clear()
        _exec_allowed.clear()


def trust_own_file(path: str) -> None:
    """Let the verifier read and run its own module file ``path`` (``submodules.load``)."""
    _own_files.add(path)
    _trusted_names.pop(path, None)
    _exec_allowed.pop(path, None)


def unmarshal_verified(data: bytes, start: int):
    """``marshal.loads(data[start:])`` for ``data`` the verifier has checked against a manifest.

    The audit hook recognises the event by its bytes (one length test and one ``memcmp``
    against ``data``) instead of by inspecting the caller's frames, which costs two audit events
    of their own (``sys._getframe``, ``frame.f_code``) and a ``f_locals`` snapshot.
    """
    global _unmarshalling
    if type(data) is not bytes:  # only immutable bytes can stand for what was checked
        return marshal.loads(memoryview(data)[start:])
    _unmarshalling = (data, len(data) - start)
    try:
        return marshal.loads(memoryview(data)[start:])
    finally:
        _unmarshalling = None


def exec_verified(code, namespace: dict) -> None:
    """``exec(code, namespace)`` for a code object the verifier has just made from verified bytes.

    How every verified module runs (``VerifyingLoader.exec_module``): the audit hook knows
    the event by identity (this thread's slot holds ``code``), so the code object needs no
    entry in the weak registry of :func:`mark_verified` (a closure, a weak reference and a
    list per module: about 15 k instructions a module with the hook's lookup). The slot is
    per thread, so another thread's module never stands in for this one's, and the hook
    empties it when it matches: only the event of this very call can match (the same code
    object run again, even by itself, takes the ordinary checks).
    """
    ident = _get_ident()
    _executing[ident] = code
    try:
        exec(code, namespace)
    finally:
        _executing.pop(ident, None)


# warnings.warn(stacklevel=N) skips the import system's frames (file names holding "importlib"
# and "_bootstrap"): so is this one, which runs every verified module (as loader.py does for
# VerifyingLoader.exec_module), and a warning at import time names the importing line.
exec_verified.__code__ = exec_verified.__code__.replace(
    co_filename=f"<signedimp importlib._bootstrap {__file__}>"
)


def run_verified(function, *args):
    """Call ``function(*args)`` with extension loading allowed in this thread (verified bytes)."""
    ident = _thread.get_ident()
    nested = ident in _verifying
    _verifying.add(ident)
    try:
        return function(*args)
    finally:
        if not nested:
            _verifying.discard(ident)


def is_module_file(filename) -> bool:
    """True for a name the import system would compile or unmarshal code from."""
    return (
        isinstance(filename, str)
        and filename[-4:].lower().endswith(MODULE_SUFFIXES)
        and not filename.startswith("<")
    )


# -- the audit hook ---------------------------------------------------------------------------------


def _audit(event, args, _watched=_WATCHED):
    # Every event of the process comes here: the common cases first, inline (a Python call
    # more per event is measurable: about 1,300 events in a small app).
    if not _active or event not in _watched:
        return
    if event == "exec":
        code = args[0]
        if _executing:  # exec_verified in some thread: this thread's slot, used up by its exec
            ident = _get_ident()
            if _executing.get(ident) is code:
                del _executing[ident]
                return
        filename = getattr(code, "co_filename", None)
        if filename in _exec_allowed:  # not a module file, or a trusted one (cached)
            return
        refs = _produced.get(filename)
        if refs is not None:
            for ref in tuple(refs):  # a snapshot: another thread may drop a dead reference meanwhile
                if ref() is code:
                    return
        _check_exec(code, filename, _active[-1][1])
    elif event == "import":
        if len(args) > 1 and args[1] is not None:
            _check_extension(args[0], args[1], _active[-1][1])
    else:
        # The verifier's own unmarshalling of verified bytes, known by content: the event's
        # argument is a copy of the buffer (3.8-3.13), compared with the bytes that were checked.
        pending = _unmarshalling
        if pending is not None and event == "marshal.loads":
            buffer = args[0]
            if isinstance(buffer, bytes) and len(buffer) == pending[1] and pending[0].endswith(buffer):
                return
        _check_unmarshal(_active[-1][1])


def _trusted(path, is_trusted) -> bool:
    return isinstance(path, str) and os.path.isabs(path) and is_trusted(path)


def _trusted_name(filename: str, is_trusted) -> bool:
    """``_trusted`` for a module file, cached: the standard library's code runs through here."""
    trusted = _trusted_names.get(filename)
    if trusted is None:
        trusted = _trusted_names[filename] = filename in _own_files or _trusted(filename, is_trusted)
    return trusted


def _check_exec(code, filename, is_trusted) -> None:
    """``exec`` of ``code`` that the verifier did not produce: refused for an untrusted module file."""
    if not isinstance(filename, str):
        return
    if not is_module_file(filename) or _trusted_name(filename, is_trusted):
        # The same answer for every code object of this name until the trusted paths change.
        if len(_exec_allowed) >= _EXEC_ALLOWED_MAX:  # bounded: generated code may name itself
            _exec_allowed.clear()
        _exec_allowed[filename] = True
        return
    if _run_by_frozen_importer() or _run_by_trusted_zipimporter(is_trusted):
        return
    raise IntegrityCheckMissing(
        "code compiled from this module file was about to run without signedimp verifying it"
        " (loaded by path, around the import hook)",
        file=filename,
    )


def _run_by_frozen_importer() -> bool:
    """The code of a frozen module, run by ``FrozenImporter.exec_module`` (trusted)."""
    try:
        return sys._getframe(3).f_code is _frozen_exec_code  # <- _check_exec <- _audit <- caller
    except ValueError:
        return False


def _run_by_trusted_zipimporter(is_trusted) -> bool:
    """A trusted archive's bytecode (a standard-library zip) keeps the file name it was built with."""
    frame: types.FrameType | None
    try:
        frame = sys._getframe(3)  # _run_by... <- _check_exec <- _audit <- caller of exec
    except ValueError:  # called from C with no Python frame above
        return False
    for _ in range(3):
        if frame is None:
            return False
        owner = frame.f_locals.get("self")
        if isinstance(owner, zipimport.zipimporter):
            return _trusted(owner.archive, is_trusted)
        frame = frame.f_back
    return False


def _check_extension(name, path, is_trusted) -> None:
    if _thread.get_ident() in _verifying or _trusted(os.fspath(path), is_trusted):
        return
    raise IntegrityCheckMissing(
        "an extension module was about to be loaded from it without signedimp verifying it"
        " (loaded by path, around the import hook)",
        module=name if isinstance(name, str) else None,
        file=os.fspath(path),
    )


def _check_unmarshal(is_trusted) -> None:
    """Bytecode read by importlib, zipimport or runpy: only from trusted files, unless verified."""
    try:
        frame = sys._getframe(2)  # _check_unmarshal <- _audit <- caller of marshal (C has no frame)
    except ValueError:  # called from C with no Python frame above: not a known loader
        return
    code = frame.f_code
    if code is _bytecode_loader_code:
        local = frame.f_locals
        path = local.get("bytecode_path") or local.get("source_path")
    elif code is _zip_unmarshal_code:
        path = frame.f_locals.get("pathname")
    elif code.co_name == "read_code" and _is_pkgutil_read_code(code):
        path = getattr(frame.f_locals.get("stream"), "name", None)
    else:
        return  # another caller: the data's origin is unknown (see docs/threat-model.md)
    if path is None or (_trusted_name(path, is_trusted) if isinstance(path, str) else False):
        return
    raise IntegrityCheckMissing(
        "bytecode was about to be read from it without signedimp verifying it"
        " (loaded by path, around the import hook)",
        file=os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path),
    )


def _is_pkgutil_read_code(code) -> bool:
    pkgutil = sys.modules.get("pkgutil")
    read_code = getattr(pkgutil, "read_code", None)
    return getattr(read_code, "__code__", None) is code
