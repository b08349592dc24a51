"""The fixed part of the bootstrap: builds the embedded ``signedimp`` package and installs it.

Nothing imports this module to run it: ``bootstrap_text.py`` reads it as source text and embeds
everything below the ``EMBEDDED`` marker, indented, in the generated ``_signedimp_bootstrap()``
function, after the lines that bind ``sys`` and the generated literals (``digest``, ``names``,
``preload``, ``sources``, ``compiled``). Only keys and payloads are generated; this code is
linted, typed and tested like the rest of the package. It is a runtime module (deferred, never
executed) so that an embedded copy carries its own text and can write a bootstrap too.

Rules for the code below the marker, because of where it runs:

- It runs before any verification exists, so it imports nothing at the top (``sys`` is passed
  in) and touches only ``sys.modules``, ``sys.path`` and ``sys.meta_path``; the two
  standard-library modules it imports lazily (``binascii``/``zlib`` to unpack a literal,
  ``hashlib`` to check an archive member) are imported while the script's folder is hidden
  from ``sys.path`` (``_bootstrap_text``).
- It is executed as the ``__main__`` of a zipapp, by ``python -c`` or by ``exec``: the
  script's globals are passed in as ``script`` (``globals()`` here would be this module's).
- Annotations are evaluated when the embedded functions are defined (the generated text has
  no ``from __future__ import annotations``): anything but a builtin type is quoted.
- No multi-line string literal other than a docstring: indenting the text changes them.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the embedded text imports nothing
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Any

    #: A payload: base64 text or raw bytes (literals in the bootstrap), or (archive member, its
    #: sha256 hex).
    Payload = str | bytes | tuple[str, str]

# ---- EMBEDDED: everything below this line is the bootstrap's fixed text ----


class _Refused(Exception):
    """A runtime member of the archive is missing or is not the one pinned in this text."""


def _read_member(script: "dict[str, Any]", name: str, digest: str) -> bytes:
    """The archive member ``name`` (beside the script), only if its SHA-256 is ``digest``.

    Read through the script's own loader (zipimport) in one read, and checked before anything
    in it is unmarshalled or compiled: the literal digest in the text is the trust anchor.
    """
    import hashlib

    here = script.get("__file__") or ""
    archive = here[: max(here.rfind("/"), here.rfind("\\"))]
    path = archive + "/" + name
    get_data = getattr(script.get("__loader__"), "get_data", None)
    try:
        if get_data is not None:
            data = get_data(path)
        else:
            with open(path, "rb") as stream:
                data = stream.read()
    except OSError as exc:
        raise _Refused(f"{archive}: the runtime member {name} is missing ({exc})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise _Refused(
            f"{archive}: the runtime member {name} does not match the SHA-256 pinned in __main__ (modified)"
        )
    return data


def _unpack(script: "dict[str, Any]", packed: "Payload") -> "list[tuple[str, bytes]]":
    """The (name, bytes) pairs of a payload: embedded text or bytes, or a pinned (member, sha256).

    Bytes (a frozen bootstrap's) are raw, or zlib data after a ``Z`` (see ``_inflated``): the
    freezer compiles the hook and stores it compressed already, so base64 text would be decoded
    at every start for nothing.
    """
    if isinstance(packed, bytes):
        raw = _inflated(packed)
    elif isinstance(packed, str):
        import binascii
        import zlib

        raw = zlib.decompress(binascii.a2b_base64(packed))
    else:
        raw = _read_member(script, *packed)
    items, pos = [], 0
    while pos < len(raw):
        size = int.from_bytes(raw[pos : pos + 2], "big")
        name = raw[pos + 2 : pos + 2 + size].decode("utf-8")
        pos += 2 + size
        size = int.from_bytes(raw[pos : pos + 4], "big")
        items.append((name, raw[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return items


def _inflated(data: bytes) -> bytes:
    """``data``, or the zlib data after its leading ``Z`` inflated. A frozen bootstrap compresses
    each module's bytecode alone, so that only the modules that run are inflated (a marshalled
    code object starts with ``c`` or ``\\xe3``, never ``Z``), and its sources as a whole,
    inflated only if a traceback or another Python needs them."""
    if data[:1] != b"Z":
        return data
    import zlib

    return zlib.decompress(data[1:])


class _EmbeddedSource:
    """The embedded sources, unpacked on first use: to compile (when the embedded bytecode is
    for another Python) and for linecache, so tracebacks show the verifier's lines. Also the
    loader of the runtime's deferred modules (``signedimp/submodules.py``): their code was
    unpacked and checked at start-up with the rest, and is executed when first needed."""

    def __init__(self, script: "dict[str, Any]", packed: "Payload", codes: "dict[str, bytes]") -> None:
        self._script = script
        self._packed = packed
        self._codes = codes
        self._texts: dict[str, str] | None = None

    def deferred_code(self, name: str) -> "tuple[Any, str]":
        """(code, file name) of the runtime module ``name``, from what start-up unpacked."""
        filename = "<signedimp-bootstrap>/signedimp/" + name + ".py"
        if name in self._codes:
            import marshal

            return marshal.loads(_inflated(self._codes[name])), filename
        return compile(self.text(name), filename, "exec", dont_inherit=True), filename

    def text(self, name: str) -> str:
        if self._texts is None:
            self._texts = {n: data.decode("utf-8") for n, data in _unpack(self._script, self._packed)}
        return self._texts[name]

    def get_source(self, fullname: str) -> "str | None":
        if fullname != "signedimp" and not fullname.startswith("signedimp."):
            return None
        try:
            return self.text(fullname[len("signedimp.") :] or "__init__")
        except _Refused:  # a runtime member changed since start-up: no source, no trust
            return None

    def is_package(self, fullname: str) -> bool:
        return fullname == "signedimp"


def _stdlib_start(sys: "ModuleType") -> int:
    """Index of the first standard-library entry of sys.path (entries before it can shadow)."""
    stdlib = getattr(sys, "_stdlib_dir", None)
    if not stdlib:
        enc = sys.modules.get("encodings")
        paths = list(getattr(enc, "__path__", ()) or ())
        stdlib = paths[0].rstrip("/\\")[: -len("encodings")] if paths else ""
    stdlib = stdlib.rstrip("/\\")
    if not stdlib:
        return 0
    cut = max(stdlib.rfind("/"), stdlib.rfind("\\"))
    zipped = f"{stdlib[: cut + 1]}python{sys.version_info[0]}{sys.version_info[1]}.zip"
    for index, entry in enumerate(sys.path):
        if isinstance(entry, str) and entry.rstrip("/\\") in (stdlib, zipped):
            return index
    return 0


def _codes(
    sys: "ModuleType", script: "dict[str, Any]", compiled: "tuple[str, Payload] | None"
) -> "dict[str, bytes]":
    """Embedded bytecode by module name, if it was made for this very Python; else {}."""
    if compiled is None or sys.flags.optimize:
        return {}
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    if bytes.fromhex(compiled[0]) != magic:
        return {}
    return dict(_unpack(script, compiled[1]))


def _runtime(
    sys: "ModuleType",
    script: "dict[str, Any]",
    digest: str,
    names: "Sequence[str]",
    sources: "Payload",
    compiled: "tuple[str, Payload] | None",
    preload: "Sequence[str]" = (),
) -> "ModuleType":
    """The embedded signedimp package: reused if a signedimp runtime is loaded, else built."""
    pkg = sys.modules.get("signedimp")
    if pkg is not None and hasattr(pkg, "SignedImportManager"):
        return pkg  # one verifier per process: two copies would not know each other's loaders
    try:
        return _build(sys, script, digest, names, sources, compiled, preload)
    except _Refused as exc:  # nothing of the member ran: refuse to run the app at all
        raise SystemExit(f"signedimp: refusing to run {exc}") from None


def _build(
    sys: "ModuleType",
    script: "dict[str, Any]",
    digest: str,
    names: "Sequence[str]",
    sources: "Payload",
    compiled: "tuple[str, Payload] | None",
    preload: "Sequence[str]" = (),
) -> "ModuleType":
    """Execute the runtime modules as the package signedimp (bytecode if it fits, else source).

    ``names`` are the modules that run at ``import signedimp``; the deferred ones run on first
    use, from the code unpacked here. ``preload``: the standard-library modules those import,
    imported now, while the script's folder is hidden, so none of them is ever found beside it.
    """
    codes = _codes(sys, script, compiled)
    source_loader = _EmbeddedSource(script, sources, codes)
    spec_type = sys.modules["_frozen_importlib"].ModuleSpec
    module_type: Any = type(sys)  # a local annotation: never evaluated
    pkg = module_type("signedimp")
    pkg.__path__ = []
    pkg.__package__ = "signedimp"
    pkg.__loader__ = source_loader
    pkg.__spec__ = spec_type("signedimp", source_loader, origin="<signedimp-bootstrap>", is_package=True)
    pkg.__file__ = "<signedimp-bootstrap>/signedimp/__init__.py"
    previous = {k: v for k, v in sys.modules.items() if k == "signedimp" or k.startswith("signedimp.")}
    for k in previous:
        del sys.modules[k]
    try:
        sys.modules["signedimp"] = pkg
        for name in names:
            if name == "__init__":
                module = pkg
            else:
                fullname = "signedimp." + name
                module = module_type(fullname)
                module.__package__ = "signedimp"
                module.__loader__ = source_loader
                module.__spec__ = spec_type(fullname, source_loader, origin="<signedimp-bootstrap>")
                module.__file__ = "<signedimp-bootstrap>/signedimp/" + name + ".py"
                sys.modules[fullname] = module
            exec(source_loader.deferred_code(name)[0], module.__dict__)
            if module is not pkg:
                setattr(pkg, name, module)
        for name in preload:
            __import__(name)
    except BaseException:
        for k in [k for k in sys.modules if k == "signedimp" or k.startswith("signedimp.")]:
            del sys.modules[k]
        sys.modules.update(previous)
        raise
    pkg._bootstrap_digest = digest
    return pkg


def _install(
    sys: "ModuleType", pkg: "ModuleType", keys: "list[Any]", trusted_paths: "tuple[str, ...] | None"
) -> "Any":
    """Install a manager pinned to keys, unless the first one installed already is that."""
    first = sys.meta_path[0] if sys.meta_path else None
    if isinstance(first, pkg.SignedImportManager):
        same_keys = sorted(k.fingerprint for k in getattr(first, "keys", ())) == sorted(
            k.fingerprint for k in keys
        )
        trust = getattr(pkg, "trust", None)
        if trusted_paths is None and trust is not None:
            trusted_paths = tuple(trust.default_trusted_paths())
        if same_keys and tuple(getattr(first, "trusted_paths", ())) == trusted_paths:
            return first
    if trusted_paths is None:
        manager = pkg.SignedImportManager(keys)
    else:
        manager = pkg.SignedImportManager(keys, trusted_paths=trusted_paths)
    manager.install()
    return manager
