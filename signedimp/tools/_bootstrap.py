"""Generate the bootstrap: the runtime verifier and pinned keys as one self-contained source text.

A zipapp's ``__main__.py`` or a frozen application's startup script cannot import ``signedimp``
from disk before something verifies it: that is the chicken-and-egg problem. The bootstrap breaks
it by carrying the runtime's own source inside the (trusted or signed) startup file. Executed, it
builds the ``signedimp`` package in ``sys.modules`` from those embedded sources, builds the pinned
keys from literals, and installs a ``SignedImportManager`` first on ``sys.meta_path``.

Only the keys and the payloads are generated here. The code of the text is a real module,
``_bootstrap_prelude.py``, read as source and indented into the generated function (linted,
typed and tested like the rest); the runtime is compiled for ``bytecode=True`` by another,
``_bootstrap_compile.py``, run as ``python -I -S -c`` text.

Decisions (documented in docs/frozen-apps.md):

- One verifier per process. If a ``signedimp`` package with a ``SignedImportManager`` is already
  in ``sys.modules`` (the launcher's, under ``signedimp run``, or an earlier bootstrap), it is
  reused rather than replaced: two copies of the runtime would not recognise each other's
  managers and loaders. Code that ran before the bootstrap is trusted by definition (it could
  have done anything), so reusing what it loaded gives nothing away.
- While the embedded modules execute and the manager is built, the ``sys.path`` entries that
  come before the standard library (the script's directory or archive, ``PYTHONPATH``) are
  hidden, so a ``hashlib.py`` dropped into an app cannot shadow a standard-library module the
  verifier itself imports.
- A manager is installed unless the first one on ``sys.meta_path`` already has exactly these
  keys and trusted paths (running the same bootstrap twice is harmless).

- A zipapp built by ``signedimp zipapp`` uses a variation (``split_bootstrap``): the runtime's
  sources and bytecode are archive members pinned by SHA-256 literals in ``__main__``, checked
  before use, because runpy reads and unmarshals ``__main__.pyc`` twice and a 190 kB one cost
  about 3 ms of every start. ``get_bootstrap_code`` always returns the self-contained text.

This module is a tool (it reads files, uses hashlib at generation time); it is never embedded.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import importlib.resources
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..__about__ import __version__
from ..keys import key_ring
from ..submodules import DEFERRED

#: Modules of ``signedimp/`` that are not runtime: ``__main__`` only hands over to the tools'
#: command line. Every other ``signedimp/*.py`` must be reachable from ``__init__`` by top-level
#: relative imports (tests/test_bootstrap.py checks it), so a new runtime module cannot be
#: forgotten; the tools live in ``signedimp/tools/`` and are never embedded.
NOT_RUNTIME: tuple[str, ...] = ("__main__",)

PACKAGE = "signedimp"
#: Archive members of a zipapp built by ``signedimp zipapp`` (see ``split_bootstrap``).
RUNTIME_FOLDER = "_signedimp_runtime"
SOURCES_MEMBER = f"{RUNTIME_FOLDER}/sources.bin"
BYTECODE_MEMBER = f"{RUNTIME_FOLDER}/bytecode.bin"
FILENAME_PREFIX = "<signedimp-bootstrap>/signedimp/"


def _package_root():
    """The installed ``signedimp`` package, wherever it lives (folder or zip)."""
    return importlib.resources.files(PACKAGE)


def relative_imports(source: str) -> list[str]:
    """The sibling modules that ``source`` imports at module level (``from .x import y``)."""
    found: list[str] = []
    for node in ast.parse(source).body:
        nodes = [node]
        if isinstance(node, ast.Try):  # ``try: from .x import y / except ImportError: ...``
            nodes = [*node.body, *(h for handler in node.handlers for h in handler.body)]
        for item in nodes:
            if isinstance(item, ast.ImportFrom) and item.level == 1:
                names = [item.module] if item.module else [alias.name for alias in item.names]
                found.extend(name.split(".")[0] for name in names)
    return list(dict.fromkeys(found))


@functools.cache
def runtime_modules() -> tuple[str, ...]:
    """Runtime modules in execution order: each after those it imports.

    First the modules that run at ``import signedimp`` (``eager_modules``, ``__init__`` last),
    then the deferred ones (``signedimp.submodules.DEFERRED``), each after the deferred modules
    it imports. Computed from the relative imports, so a new runtime module is embedded without
    anyone having to remember a list.
    """
    root = _package_root()
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise RuntimeError(f"import cycle in the signedimp runtime through {name!r}")
        if name in NOT_RUNTIME or name == "tools":
            raise RuntimeError(f"the signedimp runtime imports the tool module {name!r}")
        visiting.add(name)
        for dep in relative_imports(root.joinpath(f"{name}.py").read_text(encoding="utf-8")):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    visit("__init__")
    late = [name for name in order if name in DEFERRED]
    if late:
        raise RuntimeError(
            f"signedimp modules that run at import import deferred modules at their top: {late}"
        )
    for name in sorted(DEFERRED):
        visit(name)
    return tuple(order)


def eager_modules() -> tuple[str, ...]:
    """The runtime modules executed at ``import signedimp`` (an embedded copy's ``names``)."""
    return tuple(name for name in runtime_modules() if name not in DEFERRED)


def __getattr__(name: str):
    if name == "RUNTIME_MODULES":  # computed on first use: parsing the package costs a few ms
        return runtime_modules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def runtime_sources() -> list[tuple[str, str]]:
    """(name, source) for every runtime module, in execution order."""
    root = _package_root()
    return [
        (name, root.joinpath(f"{name}.py").read_text(encoding="utf-8").replace("\r\n", "\n"))
        for name in runtime_modules()
    ]


def sources_digest(sources: Sequence[tuple[str, str]]) -> str:
    """A digest that identifies one embedded runtime: equal digests mean identical code."""
    h = hashlib.sha256()
    for name, text in sources:
        h.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return h.hexdigest()


def public_keys(keys: Any) -> list[Any]:
    """The keys to pin, read by ``key_ring`` (its forms, its errors), each one embeddable."""
    result = list(key_ring(keys).values())
    for key in result:
        if getattr(key, "algorithm", None) not in ("ed25519", "rsa"):
            raise TypeError(f"not a signedimp public key (no ed25519 or rsa algorithm): {key!r}")
    if not result:
        raise ValueError("get_bootstrap_code needs at least one public key to pin")
    return result


def _tool_source(filename: str) -> str:
    """The text of a module of this package (folder or zip alike), with ``\\n`` line ends."""
    text = importlib.resources.files(f"{PACKAGE}.tools").joinpath(filename).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n")


#: The line of ``_bootstrap_prelude.py`` after which its text is embedded.
PRELUDE_MARKER = "# ---- EMBEDDED: everything below this line is the bootstrap's fixed text ----\n"


@functools.cache
def prelude_text() -> str:
    """The fixed part of the bootstrap: ``_bootstrap_prelude.py`` below its marker, indented
    into the generated function (its docstring says what that code may and may not do)."""
    head, marker, body = _tool_source("_bootstrap_prelude.py").partition(PRELUDE_MARKER)
    if not marker:
        raise RuntimeError("_bootstrap_prelude.py has lost its EMBEDDED marker line")
    return "\n" + "".join("    " + line if line.strip() else "\n" for line in body.splitlines(True)) + "\n"


def frozen_epilogue_text() -> str:
    """The end of a frozen bootstrap: ``_bootstrap_frozen_run.py`` below its marker (cx_Freeze's
    ``run(name)``), at the top level of the text."""
    head, marker, body = _tool_source("_bootstrap_frozen_run.py").partition(PRELUDE_MARKER)
    if not marker:
        raise RuntimeError("_bootstrap_frozen_run.py has lost its EMBEDDED marker line")
    return "\n" + body


def key_literal(key: Any) -> str:
    """Source text that rebuilds ``key`` from the embedded package (no parsing at run time)."""
    if key.algorithm == "ed25519":
        return f"_pkg.Ed25519Key(bytes.fromhex({key.public_bytes.hex()!r}))"
    return f"_pkg.RSAKey({key.modulus:#x}, {key.pub_exponent})"


def packed(items: Sequence[tuple[str, bytes]]) -> bytes:
    """Named payloads as one byte string: 2-byte name length, name, 4-byte data length, data."""
    return b"".join(
        len(name.encode()).to_bytes(2, "big") + name.encode() + len(data).to_bytes(4, "big") + data
        for name, data in items
    )


def pack(items: Sequence[tuple[str, bytes]]) -> str:
    """Named payloads as a zlib-compressed, base64 string literal split over short lines.

    Compressed because a bootstrap must fit in one ``python -c`` argument (Linux caps a single
    argument at 128 KiB) and parse fast at every start; the sources are the package's own files,
    identified by the digest in the text.
    """
    text = base64.b64encode(zlib.compress(packed(items), 9)).decode("ascii")
    lines = [text[i : i + 96] for i in range(0, len(text), 96)]
    return "(\n" + "".join(f'        "{line}"\n' for line in lines) + "    )"


def compiled_runtime(sources: Sequence[tuple[str, str]]) -> tuple[bytes, dict[str, bytes]]:
    """(magic number, name -> marshalled code) of the sources, for the running interpreter.

    Compiled by ``_bootstrap_compile.py`` in a fresh ``python -I -S`` with a fixed hash seed:
    marshal output depends on the process state (interned strings, set order), and builds must
    be reproducible.
    """
    script = _tool_source("_bootstrap_compile.py")
    request = {"prefix": FILENAME_PREFIX, "sources": [list(item) for item in sources]}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    answer = json.loads(result.stdout)
    return bytes.fromhex(answer["magic"]), {n: bytes.fromhex(c) for n, c in answer["code"].items()}


def get_bootstrap_code(
    keys: Any, *, trusted_paths: Iterable[str] | None = None, bytecode: bool = False, frozen: bool = False
) -> str:
    """One self-contained source text that installs the verifier pinned to ``keys``.

    ``keys``: what ``signedimp.keys.key_ring`` accepts (a public key, a private key whose public
    half is pinned, PEM / ssh-ed25519 text, or an iterable or dict of those). ``trusted_paths``
    is passed to ``SignedImportManager``: ``None`` trusts the standard library directories,
    ``()`` only built-in and frozen modules.
    """
    sources = runtime_sources()
    payloads = [f"    sources = {pack([(name, text.encode('utf-8')) for name, text in sources])}\n"]
    if bytecode:
        magic, codes = compiled_runtime(sources)
        payloads.append(f"    compiled = ({magic.hex()!r}, {pack(list(codes.items()))})\n")
    else:
        payloads.append("    compiled = None\n")
    if frozen:
        if trusted_paths is not None:
            raise ValueError("a frozen-app bootstrap decides its trusted paths itself")
        return _bootstrap_text(public_keys(keys), sources, payloads, None, frozen=True)
    return _bootstrap_text(public_keys(keys), sources, payloads, trusted_paths)


def runtime_stdlib_imports(sources: Sequence[tuple[str, str]]) -> list[str]:
    """Every standard-library module the runtime imports anywhere (absolute imports), sorted.

    A frozen bootstrap names them in plain ``import`` statements, because freezers collect
    what they see imported and cannot see into the compressed sources.
    """
    found: set[str] = set()
    for _name, text in sources:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    # another Python's spelling (_sha256 before 3.12, _sha2 after) is not this one's to collect
    return sorted(name for name in found if name.split(".")[0] in sys.stdlib_module_names)


def deferred_stdlib_imports(sources: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The standard-library modules that deferred runtime modules import at their top, sorted.

    An embedded runtime imports them at start-up, while the script's folder is hidden from
    ``sys.path`` (``_build``'s ``preload``), so that a module beside the script can never be
    what the verifier runs later; an installed ``signedimp`` imports them on first use.
    """
    found: set[str] = set()
    for name, text in sources:
        if name not in DEFERRED:
            continue
        for node in ast.parse(text).body:
            nodes = [*node.body, *node.handlers] if isinstance(node, ast.Try) else [node]
            for item in nodes:
                if isinstance(item, ast.Import):
                    found.update(alias.name for alias in item.names)
                elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
                    found.add(item.module)
    return tuple(sorted(name for name in found if name != "__future__"))


def _frozen_prologue(sources: Sequence[tuple[str, str]]) -> str:
    imports = "".join(f"    import {name}\n" for name in runtime_stdlib_imports(sources))
    return (
        "def _signedimp_freezer_imports():  # never called: shows freezers what the runtime imports\n"
        + imports
        + "\n\n"
    )


def split_bootstrap(keys: Any, *, bytecode: bool = False) -> tuple[str, dict[str, bytes]]:
    """The bootstrap for a zipapp's own ``__main__``: (text, runtime members of the archive).

    Private to ``signedimp zipapp``. The runtime's sources (and its bytecode with ``bytecode``)
    are archive members instead of literals, each pinned by a SHA-256 literal in the text and
    checked before anything in it is unmarshalled or compiled, so the text stays the trust
    anchor. A small ``__main__.pyc`` matters because runpy has zipimport read and unmarshal it
    twice, and under ``signedimp run`` (runtime already loaded) the members are never read.
    """
    sources = runtime_sources()
    members = {SOURCES_MEMBER: packed([(name, text.encode("utf-8")) for name, text in sources])}
    payloads = [f"    sources = {_member_literal(SOURCES_MEMBER, members[SOURCES_MEMBER])}\n"]
    if bytecode:
        magic, codes = compiled_runtime(sources)
        members[BYTECODE_MEMBER] = packed(list(codes.items()))
        literal = _member_literal(BYTECODE_MEMBER, members[BYTECODE_MEMBER])
        payloads.append(f"    compiled = ({magic.hex()!r}, {literal})\n")
    else:
        payloads.append("    compiled = None\n")
    return _bootstrap_text(public_keys(keys), sources, payloads, None), members


def _member_literal(name: str, data: bytes) -> str:
    """``(member name, sha256 hex)``: how the bootstrap text refers to (and pins) a member."""
    return repr((name, hashlib.sha256(data).hexdigest()))


def _bootstrap_text(
    pinned: list[Any],
    sources: Sequence[tuple[str, str]],
    payloads: list[str],
    trusted_paths: Iterable[str] | None,
    frozen: bool = False,
) -> str:
    """The bootstrap around ``payloads`` (the lines that bind ``sources`` and ``compiled``)."""
    trusted = None if trusted_paths is None else tuple(str(p) for p in trusted_paths)
    fingerprints = ", ".join(key.fingerprint for key in pinned)
    parts = [
        f"# signedimp {__version__} bootstrap: the standard-library verifier and its pinned keys.\n",
        "# Generated by signedimp.get_bootstrap_code(); embed verbatim, do not edit.\n",
        f"# Pinned key fingerprints (sha256 of SubjectPublicKeyInfo): {fingerprints}\n",
        _frozen_prologue(sources) if frozen else "",
        "def _signedimp_bootstrap():\n",
        "    import sys\n",
        f"    digest = {sources_digest(sources)!r}\n",
        f"    names = {eager_modules()!r}\n",
        f"    preload = {deferred_stdlib_imports(sources)!r}\n",
        *payloads,
    ]
    parts.append(prelude_text())
    # A frozen app's sys.path is the app folder's own (verified at start-up): nothing to hide.
    parts.append("    hidden = sys.path[:0]\n" if frozen else "    hidden = sys.path[: _stdlib_start(sys)]\n")
    parts.append("    del sys.path[: len(hidden)]\n")
    parts.append("    try:\n")
    parts.append("        _pkg = _runtime(sys, globals(), digest, names, sources, compiled, preload)\n")
    parts.append("        keys = [" + ", ".join(key_literal(k) for k in pinned) + "]\n")
    if frozen:
        parts.append("        return _pkg.frozen.install(keys)\n")
    else:
        parts.append(f"        return _install(sys, _pkg, keys, {trusted!r})\n")
    parts.append("    finally:\n")
    parts.append("        sys.path[:0] = hidden\n")
    parts.append("\n\n_signedimp_manager = _signedimp_bootstrap()\ndel _signedimp_bootstrap\n")
    if frozen:
        parts.append(frozen_epilogue_text())
    return "".join(parts)
