"""Frozen-app mode: PyInstaller and cx_Freeze apps that verify everything they load from disk.

In a frozen app the operating system signs the executable; signedimp verifies what Python
loads from the folder beside it. Trusted: built-in and frozen modules and what the freezer
carries inside the executable (PyInstaller's embedded PYZ archive, read by its own
``PyiFrozenLoader``). Verified: everything in the app folder (``base_library.zip`` /
``library.zip`` members, ``.py``/``.pyc``, extension modules, data read through loaders and
``importlib.resources``). Nothing on disk is trusted because of where it lies.

The signed manifest of a frozen app lies at the top of its folder (beside the executable) and
covers every file below it; the ``sys.path`` entries inside it (``_internal``, ``lib``,
``lib-dynload``) are covered by that manifest, and each zip on the import path carries its own.

What the interpreter loads before any hook can run (the first standard-library modules from
``base_library.zip`` / ``library.zip``, ``zlib`` and ``_struct`` for the freezer's own
archive reader, the modules this verifier imports) cannot be stopped, only detected:
``FrozenAppManager.check_startup`` checks those archives whole and every module file loaded so
far, and the bootstrap refuses to continue when one does not match.

PyInstaller onefile: the bootloader extracts the app folder from the (signed) executable into a
fresh private temporary folder at every start. That folder is the executable's own content,
written just before Python starts, so it is trusted as the executable is
(``trusted_paths=(sys._MEIPASS,)``); anything outside it is verified. See docs/frozen-apps.md.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
import sys
import zlib

from .entries import DirectoryEntry, ManifestSource, ZipArchive
from .errors import (
    IntegrityCheckError,
    IntegrityCheckFailed,
    IntegrityCheckMissing,
    ManifestError,
    UnsafeInputError,
)
from .guard import mark_verified
from .limits import MAX_MANIFEST_SIZE, MAX_MEMBER_SIZE
from .loader import EXTENSION
from .manager import SignedImportManager
from .manifest import MANIFEST_NAME, Manifest
from .roots import ManifestRoot
from .zipdir import ZipMember

TYPE_CHECKING = False

__all__ = ["FrozenApp", "FrozenAppManager", "detect", "install"]

PYINSTALLER, CX_FREEZE = "pyinstaller", "cx_Freeze"
#: The archives that freezers put on ``sys.path`` inside the app folder.
ARCHIVE_NAMES = ("base_library.zip", "library.zip")
#: An archive on ``sys.path`` checked whole at start-up is kept in memory up to this size, and
#: its members read from there; a larger one is read member by member (each one verified).
MAX_KEPT_ARCHIVE = 64 * 1024 * 1024


class FrozenApp:
    """What the running freezer is, where its app folder lies, and its in-executable loader."""

    def __init__(self, freezer: str, folder: str, onefile: bool = False, in_exe_loader=None) -> None:
        self.freezer = freezer
        self.folder = folder
        self.onefile = onefile
        self.in_exe_loader = in_exe_loader

    def __repr__(self) -> str:
        return f"<FrozenApp {self.freezer} {self.folder!r}{' onefile' if self.onefile else ''}>"


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def detect() -> FrozenApp | None:
    """The freezer this process runs under, or None when it is not a frozen app we know.

    PyInstaller: ``sys._MEIPASS`` and its importer module ``pyimod02_importers`` (which the
    bootloader runs from the executable's own archive). cx_Freeze: its ``__startup__`` module,
    frozen into the executable, and ``BUILD_CONSTANTS``.
    """
    meipass = getattr(sys, "_MEIPASS", None)
    importers = sys.modules.get("pyimod02_importers")
    if meipass and importers is not None:
        exe_folder = _real(os.path.dirname(sys.executable))
        contents = _real(meipass)
        loader = getattr(importers, "PyiFrozenLoader", None)
        if contents == exe_folder or contents.startswith(exe_folder + os.sep):
            return FrozenApp(PYINSTALLER, exe_folder, False, loader)  # onedir
        if os.path.basename(contents).startswith("_MEI"):
            return FrozenApp(PYINSTALLER, contents, True, loader)  # onefile: extracted at start
        # Contents beside the executable's folder (a macOS .app: MacOS/ and Frameworks/): the
        # folder that holds both is the app folder, all of it verified.
        return FrozenApp(PYINSTALLER, os.path.commonpath([exe_folder, contents]), False, loader)
    startup = sys.modules.get("__startup__")
    if startup is not None and hasattr(startup, "get_name"):
        return FrozenApp(CX_FREEZE, _real(os.path.dirname(sys.executable)))
    return None


# A zip member's local header: signature, version, flags, method, time, date, CRC-32, sizes,
# name and extra lengths (APPNOTE 4.3.7).
_LOCAL = struct.Struct("<4s5H3I2H")


class _CheckedArchive(ZipArchive):
    """A library zip whose bytes were checked whole at start-up: members come from those bytes.

    A member is sliced out of them and inflated in one call bounded by its declared size,
    without the stepwise reader's copies and without its CRC-32: the archive's SHA-256, pinned
    by the signed manifest, already fixes every byte of it, so the CRC cannot fail on bytes
    that passed. Anything unusual (a local header that differs, a stream that does not end
    where the member does, a size that does not match) goes to the stepwise reader, which
    says what is wrong.
    """

    def read(self, name: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        row = self.members.get(name)
        data = self.data
        if row is not None and data is not None:
            member = ZipMember(*row)
            if not member.flags & 1 and member.file_size <= limit:  # not encrypted, in the limit
                content = _member_content(data, member)
                if content is not None:
                    return content
        return super().read(name, limit)


def _member_content(data: bytes, member: ZipMember) -> bytes | None:
    """The content of ``member`` of the zip bytes ``data``, or None if anything is unusual."""
    start = member.header_offset
    name_end = start + _LOCAL.size + len(member.raw_name)
    if start < 0 or name_end > len(data):
        return None
    fields = _LOCAL.unpack_from(data, start)
    if fields[0] != b"PK\x03\x04" or data[start + _LOCAL.size : name_end] != member.raw_name:
        return None
    begin = name_end + fields[10]
    end = begin + member.compress_size
    if end > len(data):
        return None
    if member.compress_type == 0:  # stored
        content = data[begin:end]
    elif member.compress_type == 8:  # deflated
        inflater = zlib.decompressobj(-15)
        try:  # never more than the declared size + 1 (which shows a member that inflates too far)
            content = inflater.decompress(memoryview(data)[begin:end], member.file_size + 1)
        except zlib.error:
            return None
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            return None
    else:
        return None
    return content if len(content) == member.file_size else None


class _NestedEntry(DirectoryEntry):
    """A folder inside the app folder: its files are listed by the app folder's root manifest.

    The manifest's lines carry the folder's path (``_internal/...``); ``strip`` takes it off,
    so a lookup under this root is the same single dictionary access as anywhere else.
    """

    def __init__(self, path: str, top: str, strip: str) -> None:
        super().__init__(path)
        self._top = DirectoryEntry(top)
        self.strip = strip

    def manifest_candidates(self) -> list[ManifestSource]:
        top = self._top
        if not os.path.isfile(top.display(MANIFEST_NAME)):
            return []
        return [ManifestSource(top.display(MANIFEST_NAME), top.read, MANIFEST_NAME, self.strip)]


def _open_regular(path: str) -> tuple[int, int] | None:
    """(descriptor, size) of the regular file at ``path`` within the size limit, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MEMBER_SIZE:
        os.close(fd)
        return None
    return fd, info.st_size


def _read_regular_file(path: str) -> bytes | None:
    """The whole file, read at once (its size is known), or None on any problem."""
    opened = _open_regular(path)
    if opened is None:
        return None
    fd, size = opened
    try:
        data = os.read(fd, size + 1)
        return data if len(data) == size else None  # grew or shrank meanwhile: the usual read
    except OSError:
        return None
    finally:
        os.close(fd)


def _sha256_hex(data) -> str:
    """SHA-256 hex of ``data``. hashlib is imported by ``install`` before the manager exists,
    except in a onefile app, which trusts its extracted folder and may never hash anything:
    OpenSSL is then not loaded at all."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _file_digest(path: str) -> str | None:
    """SHA-256 hex of the file, hashed through a read-only mapping; None on any problem."""
    opened = _open_regular(path)
    if opened is None:
        return None
    fd, size = opened
    try:
        if not size:
            return _sha256_hex(b"")
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as view:
            return _sha256_hex(view)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def refuse(exc: IntegrityCheckError) -> None:
    """End the process: a frozen app whose folder fails verification has been tampered with.

    Not an exception the app could catch: ``try: import x / except ImportError`` (which
    libraries use for optional speedups, and apps for optional add-ons) would otherwise
    carry on without the refused file and hide the tampering. Exit status 1.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    message = f"{exc} (the app will not run)\n"
    try:
        os.write(2, message.encode("utf-8", "backslashreplace"))
    finally:
        os._exit(1)


class _FatalRoot(ManifestRoot):
    """A root whose refusals end the process (see :func:`refuse`).

    A file that is neither listed nor there is only absent: ``FileNotFoundError``, as without
    signedimp, so that code probing for an optional data file (``pkgutil.get_data``) or a
    module's source (tracebacks, ``inspect``) carries on.

    ``known``: (file list, manifests) of the root when a check already made gives them (see
    ``FrozenAppManager._known_files``): its manifests are then not read and checked again.
    ``whole``: the root is an archive whose bytes were checked whole at start-up; its members
    are read from those bytes and not hashed one by one.
    """

    #: Folders (relative to the root) that the dynamic linker searches for libraries by name:
    #: the app folder's ``LD_LIBRARY_PATH`` entries (PyInstaller's ``_internal``).
    library_folders: tuple[str, ...] = ()

    def __init__(self, entry, ring: dict, known: tuple | None = None, whole: bool = False) -> None:
        super().__init__(entry, ring)
        self.whole = whole
        if known is not None:
            self._hashes, self.manifests = known

    def read_whole(self, rel: str, module: str | None) -> bytes:
        """``read_verified`` of a large file in one read (a library zip kept in memory)."""
        expected = self.expected_digest(rel, module)
        data = _read_regular_file(self.entry.file(rel))
        if data is not None and _sha256_hex(data) == expected:
            return data
        return self.read_verified(rel, module)  # the usual read says what is wrong (or not)

    def check_file(self, rel: str, module: str | None) -> None:
        """Check ``rel`` (a module loaded before the verifier) against the manifest, or refuse.

        Hashed through a read-only mapping: these bytes are not used, only compared.
        """
        expected = self.expected_digest(rel, module)
        if _file_digest(self.entry.file(rel)) != expected:
            self.read_verified(rel, module)  # the usual read says what is wrong (or not)

    def listed_files(self) -> dict:
        """Manifest path -> SHA-256 hex of every file this root's valid manifests list."""
        return self._hashes if self._hashes is not None else self._load()

    def _absent(self, rel: str) -> bool:
        return not self.is_listed(rel) and not self.entry.is_file(rel)

    def expected_digest(self, rel: str, module: str | None = None) -> str:
        try:
            return super().expected_digest(rel, module)
        except IntegrityCheckError as exc:
            refuse(exc)
            raise

    def read_verified(self, rel: str, module: str | None = None) -> bytes:
        if self._absent(rel):
            raise FileNotFoundError(2, "No such file or directory", self.entry.display(rel))
        try:
            if self.whole:
                self.expected_digest(rel, module)  # listed (the bytes are those checked whole)
                try:
                    return self.entry.read(rel)
                except (OSError, UnsafeInputError) as exc:
                    raise IntegrityCheckFailed(
                        f"cannot be read: {exc}", module=module, file=self.entry.display(rel)
                    ) from None
            return super().read_verified(rel, module)
        except IntegrityCheckError as exc:
            refuse(exc)
            raise


def _register_code_with_guard(loader) -> None:
    """Let the guard run the code PyInstaller's loader takes from the archive inside the
    executable (trusted: the OS signature covers it). Its code objects carry relative file
    names (``inspect.py``), so the guard would otherwise refuse them as loaded by path."""
    if getattr(loader, "_signedimp_registers_code", False):
        return
    original = loader.get_code

    def get_code(fullname, _original=original):
        code = _original(fullname)
        return code if code is None else mark_verified(code)

    try:
        loader.get_code = get_code
        loader._signedimp_registers_code = True
    except AttributeError:  # a loader with __slots__: its code is then refused, loudly
        pass


class _InExecutableLoader:
    """PyInstaller's loader for a module of the embedded archive, with its disk reads verified.

    The code comes from the archive inside the signed executable (trusted, run as it is);
    ``get_data``, ``get_source`` and the resource reader read files in the app folder, and go
    through the verifier instead.
    """

    def __init__(self, loader, manager: FrozenAppManager, folder: str) -> None:
        self._loader = loader
        self._manager = manager
        self._folder = folder
        self.name = loader.name
        self.path = loader.path

    def __repr__(self) -> str:
        return f"<signedimp in-executable {self._loader!r}>"

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)

    def get_code(self, fullname=None):
        return self._loader.get_code(self.name)

    def is_package(self, fullname=None) -> bool:
        return self._loader.is_package(self.name)

    def get_filename(self, fullname=None) -> str:
        return self.path

    def get_data(self, path: str) -> bytes:
        return self._manager.read_in_folder(path, self.name)

    def get_source(self, fullname=None):
        try:
            data = self._manager.read_in_folder(self.path, self.name)
        except (IntegrityCheckMissing, FileNotFoundError):
            return None  # not shipped as a file: no source, as with the freezer's own loader
        return sys.modules["_frozen_importlib_external"].decode_source(data)

    def get_resource_reader(self, fullname=None):
        from .resources import VerifiedResourceReader

        rel = self._manager.relative_to_contents(os.path.dirname(self.path), self.name)
        return VerifiedResourceReader(self._manager.root(self._folder), rel, self.name)


class FrozenAppManager(SignedImportManager):
    """A ``SignedImportManager`` for a frozen app: nothing on disk trusted, the executable is.

    ``app``: what :func:`detect` found. Folders below the app folder are covered by its root
    manifest; PyInstaller's in-executable loader runs its archive's code unverified (the OS
    signature covers it) with its file reads verified.
    """

    def __init__(self, keys, app: FrozenApp) -> None:
        trusted = (app.folder,) if app.onefile else ()
        super().__init__(keys, trusted_paths=trusted)
        self.app = app
        self._contents = _real(getattr(sys, "_MEIPASS", "") or app.folder)
        self.checked_at_startup: frozenset[str] = frozenset()

    def vet(self, spec):
        loader = spec.loader
        if self.app.in_exe_loader is not None and type(loader) is self.app.in_exe_loader:
            _register_code_with_guard(loader)
            if not self.app.onefile:
                spec.loader = _InExecutableLoader(loader, self, self._contents)
            return spec if not self.app.onefile else super().vet(spec)
        try:
            return super().vet(spec)
        except IntegrityCheckError as exc:
            refuse(exc)
            raise

    def install(self) -> FrozenAppManager:
        """As ``SignedImportManager.install``; the folders whose stock ``FileFinder`` it drops
        from ``sys.path_importer_cache`` get the sealed folders' finder straight away.

        Left to the path hooks, such a folder would go to whichever hook takes it now, and
        PyInstaller's, added after the interpreter had made the stock finder for
        ``lib-dynload``, takes every folder in the app: each search there would then look
        the name up in its archive first and fall back to a stock ``FileFinder`` behind it
        (twice the work for every import the folders do not answer). The sealed finder is what
        the stock one was, answered from the checked manifest.
        """
        cache = sys.path_importer_cache
        file_finder = sys.modules["_frozen_importlib_external"].FileFinder
        dropped = [p for p, f in cache.items() if type(f) is file_finder and isinstance(p, str) and p]
        super().install()
        gone = [path for path in dropped if path not in cache and os.path.isdir(path)]
        if gone:  # none in a onefile app: its folder is trusted, its finders stay
            from .folderfinder import SealedFolderFinder

            for path in gone:
                cache[path] = SealedFolderFinder(self, path)
        return self

    if TYPE_CHECKING:  # every root of this manager is made by _new_root: a _FatalRoot

        def root(self, path: str) -> _FatalRoot: ...

    def _new_root(self, path: str) -> _FatalRoot:
        """As ``SignedImportManager``'s, with roots whose refusals end the process."""
        entry = self._entry(path)
        known, whole = self._known_files(entry)
        root = _FatalRoot(entry, self._ring, known, whole)
        if path == self.app.folder:
            root.library_folders = self._library_folders()
        return root

    def make_loader(self, fullname: str, origin: str, kind: str, is_package: bool):
        """As ``SignedImportManager.make_loader``; an extension module in a folder below the app
        folder gets the app folder's root, so that the libraries it needs from elsewhere in the
        folder are verified too: PyInstaller's ``_internal/libbz2.so.1.0``, which the dynamic
        linker finds through ``LD_LIBRARY_PATH``, is checked against the manifest just before
        the extension is loaded (``extensions._checked_in_place``)."""
        loader = super().make_loader(fullname, origin, kind, is_package)
        entry = loader.root.entry
        if kind == EXTENSION and isinstance(entry, _NestedEntry):
            loader.root, loader.rel = self.root(self.app.folder), entry.strip + loader.rel
        return loader

    def _library_folders(self) -> tuple[str, ...]:
        """The ``LD_LIBRARY_PATH`` folders inside the app folder, relative to it ("" for itself).

        The linker read the variable when the process started; PyInstaller's bootloader sets
        it to the contents folder before Python starts.
        """
        found: list[str] = []
        top = self.app.folder
        for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
            if not folder:
                continue
            real = _real(folder)
            rel = "" if real == top else real[len(top) + 1 :] if real.startswith(top + os.sep) else None
            if rel is not None and rel.replace(os.sep, "/") not in found:
                found.append(rel.replace(os.sep, "/"))
        return tuple(found)

    def _known_files(self, entry) -> tuple[tuple[dict, list] | None, bool]:
        """((file list, its manifests) or None, checked whole?) of ``entry``, from checks made.

        A folder below the app folder: the app folder's manifest, checked once, lines outside
        the folder left out and the folder's path taken off the others (its signature is not
        checked again for each ``sys.path`` entry). An archive checked whole at start-up: the
        manifest inside it, parsed from the checked bytes, whose signature would prove no more
        than that check did. None: the root reads and checks its manifests itself.
        """
        if isinstance(entry, _NestedEntry):
            top = self.root(self.app.folder)
            hashes = top.listed_files()
            if not top.manifests or top.tampered(None, entry.path) is not None:
                return None, False  # the entry's own root says what is wrong
            strip, size = entry.strip, len(entry.strip)
            return ({p[size:]: d for p, d in hashes.items() if p.startswith(strip)}, top.manifests), False
        archive = getattr(entry, "archive", None)
        if not isinstance(archive, ZipArchive) or archive.data is None or archive.error:
            return None, False
        if entry.prefix or MANIFEST_NAME not in archive.names:
            return None, True
        try:
            text = archive.read(MANIFEST_NAME, MAX_MANIFEST_SIZE)
            manifest = Manifest.parse(text, source=entry.display(MANIFEST_NAME))
        except (ManifestError, OSError, UnsafeInputError):
            return None, True  # the usual reading says why
        return (dict(manifest.hashes), [manifest]), True

    def _entry(self, path: str):
        if not self.app.onefile and os.path.isdir(path):
            real = _real(path)
            top = self.app.folder
            if real != top and real.startswith(top + os.sep):
                strip = real[len(top) + 1 :].replace(os.sep, "/") + "/"
                return _NestedEntry(path, top, strip)
        return super()._entry(path)

    # -- reads of the in-executable loader ----------------------------------------------------

    def relative_to_contents(self, path: str, module: str) -> str:
        """``path`` relative to the contents folder, or IntegrityCheckMissing if outside it."""
        full = _real(path)
        if full == self._contents:
            return ""
        prefix = self._contents + os.sep
        if not full.startswith(prefix):
            raise IntegrityCheckMissing(f"outside the app folder {self._contents}", module=module, file=path)
        return full[len(prefix) :].replace(os.sep, "/")

    def read_in_folder(self, path: str, module: str) -> bytes:
        """The verified bytes of ``path`` below the contents folder."""
        return self.root(self._contents).read_verified(self.relative_to_contents(path, module), module)

    # -- the start-up check -------------------------------------------------------------------

    def check_startup(self) -> None:
        """Check what was loaded from the app folder before this manager existed.

        Each archive on ``sys.path`` inside the app folder is read whole and checked against
        the app folder's manifest (the interpreter imported its first modules from it before
        any hook could run), and so is every module file already loaded from the folder.
        Raises ``IntegrityCheckError`` naming the first file that does not match.
        """
        if self.app.onefile:
            return
        top = self.app.folder
        prefix = top + os.sep
        # Cheap string tests first (realpath costs a few system calls per module): the folder
        # as the freezer spelled it and as resolved; folders are resolved once each.
        spelled = {prefix, os.path.dirname(os.path.abspath(sys.executable)) + os.sep}
        meipass = getattr(sys, "_MEIPASS", None)
        if meipass:
            spelled.add(os.path.abspath(meipass) + os.sep)
        starts = tuple(spelled)
        folders: dict[str, str] = {}

        def resolve(path: str) -> str:
            head, tail = os.path.split(path)
            real = folders.get(head)
            if real is None:
                real = folders[head] = _real(head)
            return _real(path) if tail in ("", ".", "..") else os.path.join(real, os.path.normcase(tail))

        archives = set()
        root = self.root(top)
        for entry in list(sys.path):
            if isinstance(entry, str) and entry.startswith(starts) and os.path.isfile(entry):
                real = resolve(entry)
                data = root.read_whole(self._relative(real, None), None)
                archives.add(real)
                if len(data) <= MAX_KEPT_ARCHIVE and entry not in self._archives:
                    # Its members are read from these checked bytes from now on (no second
                    # read, central directory or per-member hash: see _known_files).
                    self._archives[entry] = _CheckedArchive(entry, data)
        checked = []
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            origin = getattr(spec, "origin", None)
            if spec is None or not origin or origin in ("built-in", "frozen") or not spec.has_location:
                continue
            loader = spec.loader
            if isinstance(loader, type) or loader is None:
                continue  # BuiltinImporter, FrozenImporter (classes) or a namespace package
            if type(loader) in (self.app.in_exe_loader, _InExecutableLoader) or hasattr(loader, "root"):
                continue  # from the executable, or already loaded through the verifier
            file = getattr(module, "__file__", None) or "/"
            if self.app.freezer == PYINSTALLER and not os.path.isabs(file):
                # Run by the bootloader from the executable's own archive (struct, pyimod0*):
                # a bare file name, and a spec that importlib made up relative to the cwd.
                continue
            archive = getattr(loader, "archive", None)
            if archive is not None:
                real = resolve(archive)
                if real not in archives:  # an archive no longer on sys.path
                    root.check_file(self._relative(real, name), name)
                checked.append(name)
            elif origin.startswith(starts) or resolve(origin).startswith(prefix):
                root.check_file(self._relative(resolve(origin), name), name)
                checked.append(name)
        #: Modules that were loaded before the manager and checked here (tests report on them).
        self.checked_at_startup = frozenset(checked)

    def _relative(self, path: str, module: str | None) -> str:
        """``path`` (resolved) as a manifest path of the app folder; refused if outside it."""
        if not path.startswith(self.app.folder + os.sep):
            refuse(
                IntegrityCheckMissing(
                    f"loaded before the verifier from outside the app folder {self.app.folder}",
                    module=module,
                    file=path,
                )
            )
        return path[len(self.app.folder) + 1 :].replace(os.sep, "/")


def install(keys) -> FrozenAppManager:
    """Install a ``FrozenAppManager`` for the running frozen app and run the start-up check.

    Exits (``SystemExit``) when this is not a frozen app signedimp knows; ends the process
    (``signedimp refused ...`` on stderr, exit status 1) when anything loaded before it, or
    anything it refuses later, does not verify.
    """
    app = detect()
    if app is None:
        raise SystemExit(
            "signedimp refused to start: this frozen-app bootstrap runs only inside a "
            "PyInstaller or cx_Freeze executable (use the plain bootstrap elsewhere)"
        )
    if not app.onefile:
        # Imported before the manager: the start-up check hashes, and importing hashlib through
        # the manager would need that check first. (The frozen bootstrap leaves it out of its
        # preload: a onefile app trusts its extracted folder and need not load OpenSSL.)
        import hashlib  # noqa: F401
    manager = FrozenAppManager(keys, app)
    manager.install()
    manager.check_startup()  # a refusal ends the process
    return manager
