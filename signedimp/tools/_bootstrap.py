"""The bootstrap variants that need more than the runtime: bytecode, zipapp members, frozen apps.

The text itself is written by the runtime (``signedimp/bootstrap_text.py``: sources, keys,
prelude), so that ``signedimp.get_bootstrap_code`` needs no tool. Added here:

- ``bytecode=True``: the runtime compiled for the running interpreter by
  ``_bootstrap_compile.py``, run as ``python -I -S -c`` text with a fixed hash seed, so that
  builds are reproducible;
- ``frozen=True``: the variant for a freezer's runtime hook (imports the freezers can see,
  ``frozen.install``, cx_Freeze's ``run(name)`` from ``_bootstrap_frozen_run.py``; its
  payloads are bytes literals, each module's bytecode compressed alone, since the freezer
  compiles and compresses the hook itself);
- ``split_bootstrap``: a zipapp built by ``signedimp zipapp`` keeps the runtime's sources and
  bytecode as archive members pinned by SHA-256 literals in ``__main__``, checked before use,
  because runpy reads and unmarshals ``__main__.pyc`` twice and a 190 kB one cost about 3 ms
  of every start. ``get_bootstrap_code`` always returns the self-contained text.

This module is a tool (it runs subprocesses, uses hashlib at generation time); it is never
embedded.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.resources
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..bootstrap_text import (
    FILENAME_PREFIX,
    NOT_RUNTIME,
    PRELUDE_MARKER,
    bootstrap_text,
    deferred_stdlib_imports,
    eager_modules,
    key_literal,
    pack,
    packed,
    prelude_text,
    public_keys,
    relative_imports,
    runtime_modules,
    runtime_sources,
    sources_digest,
    sources_payload,
)
from ..bootstrap_text import get_bootstrap_code as runtime_bootstrap_code
from ..digests import BUILTIN_MODULES, OPENSSL_MODULE

__all__ = [
    "BYTECODE_MEMBER",
    "FILENAME_PREFIX",
    "NOT_RUNTIME",
    "PRELUDE_MARKER",
    "RUNTIME_FOLDER",
    "SOURCES_MEMBER",
    "bytes_literal",
    "zipped",
    "compiled_runtime",
    "deferred_stdlib_imports",
    "eager_modules",
    "frozen_epilogue_text",
    "get_bootstrap_code",
    "key_literal",
    "pack",
    "packed",
    "prelude_text",
    "public_keys",
    "relative_imports",
    "runtime_modules",
    "runtime_sources",
    "runtime_stdlib_imports",
    "sources_digest",
    "split_bootstrap",
]

PACKAGE = "signedimp"
#: Archive members of a zipapp built by ``signedimp zipapp`` (see ``split_bootstrap``).
RUNTIME_FOLDER = "_signedimp_runtime"
SOURCES_MEMBER = f"{RUNTIME_FOLDER}/sources.bin"
BYTECODE_MEMBER = f"{RUNTIME_FOLDER}/bytecode.bin"


def __getattr__(name: str):
    if name == "RUNTIME_MODULES":  # computed on first use: parsing the package costs a few ms
        return runtime_modules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tool_source(filename: str) -> str:
    """The text of a module of this package (folder or zip alike), with ``\\n`` line ends."""
    text = importlib.resources.files(f"{PACKAGE}.tools").joinpath(filename).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n")


def _embedded_text(filename: str) -> str:
    """The text of the tool module ``filename`` below its ``EMBEDDED`` marker."""
    head, marker, body = _tool_source(filename).partition(PRELUDE_MARKER)
    if not marker:
        raise RuntimeError(f"{filename} has lost its EMBEDDED marker line")
    return body


def frozen_epilogue_text() -> str:
    """The end of a frozen bootstrap: ``_bootstrap_frozen_run.py`` below its marker (cx_Freeze's
    ``run(name)``), at the top level of the text."""
    return "\n" + _embedded_text("_bootstrap_frozen_run.py")


#: Seconds the interpreter that compiles the runtime may take (about one on this machine).
COMPILE_TIMEOUT = 300


def compiled_runtime(
    sources: Sequence[tuple[str, str]], python: str | None = None
) -> tuple[bytes, dict[str, bytes]]:
    """(magic number, name -> marshalled code) of the sources, for ``python`` (default: the
    running interpreter).

    Compiled by ``_bootstrap_compile.py`` in a fresh ``python -I -S`` with a fixed hash seed:
    marshal output depends on the process state (interned strings, set order), and builds must
    be reproducible. ``OSError`` or ``subprocess.SubprocessError`` when ``python`` cannot be
    run here (or takes over ``COMPILE_TIMEOUT`` seconds).
    """
    script = _tool_source("_bootstrap_compile.py")
    request = {"prefix": FILENAME_PREFIX, "sources": [list(item) for item in sources]}
    result = subprocess.run(
        [python or sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        timeout=COMPILE_TIMEOUT,
    )
    answer = json.loads(result.stdout)
    return bytes.fromhex(answer["magic"]), {n: bytes.fromhex(c) for n, c in answer["code"].items()}


#: Around a frozen bootstrap: the collector is off while the verifier is built and the start-up
#: check runs (they make only objects that stay alive, so every collection there would be
#: wasted), then back as it was. Nothing is moved to the permanent generation (``gc.freeze``):
#: that would also spare the app's collections the interpreter's own start-up objects, change
#: how the app's garbage is collected, and credit the verifier with a saving of the app's.
FROZEN_GC_HEAD = (
    "import gc as _signedimp_gc\n_signedimp_gc_enabled = _signedimp_gc.isenabled()\n_signedimp_gc.disable()\n"
)
FROZEN_GC_TAIL = (
    "if _signedimp_gc_enabled:\n    _signedimp_gc.enable()\ndel _signedimp_gc, _signedimp_gc_enabled\n"
)


def get_bootstrap_code(
    keys: Any,
    *,
    trusted_paths: Iterable[str] | None = None,
    bytecode: bool = False,
    frozen: bool = False,
    python: str | None = None,
) -> str:
    """One self-contained source text that installs the verifier pinned to ``keys``.

    ``keys``: what ``signedimp.keys.key_ring`` accepts (a public key, a private key whose public
    half is pinned, PEM / ssh-ed25519 text, or an iterable or dict of those). ``trusted_paths``
    is passed to ``SignedImportManager``: ``None`` trusts the standard library directories,
    ``()`` only built-in and frozen modules. ``bytecode``: the runtime's bytecode goes in beside
    its sources, compiled by ``python`` (default: the running interpreter); another Python
    (another magic number) compiles the sources instead.
    """
    return _bootstrap_code(keys, trusted_paths=trusted_paths, bytecode=bytecode, frozen=frozen, python=python)


#: The runtime modules whose bytecode a launcher leaves out: a launcher is a script, compiled
#: (about 100 instructions a byte) at every start, and these serve frozen apps, zips, bootstrap
#: writing and key text, which a sealed folder's start does not need; the rare start that
#: needs one compiles it from the embedded sources. RSA's modules stay where an RSA key is pinned.
LAUNCHER_SOURCE_ONLY = frozenset(
    (
        "bootstrap_prelude",
        "bootstrap_text",
        "der",
        "frozen",
        "key_formats",
        "rejected_archive",
        "rsa_key",
        "rsa_pss",
        "zipdir",
        "zipentries",
        "zipfinder",
    )
)
_RSA_MODULES = frozenset(("der", "rsa_key", "rsa_pss"))


def launcher_bootstrap(keys: Any, python: str) -> str:
    """The bootstrap of a ``signedimp launcher`` script for ``python``: the runtime's bytecode
    for that interpreter, but for ``LAUNCHER_SOURCE_ONLY``. ``OSError`` or
    ``subprocess.SubprocessError`` when ``python`` cannot be run here."""
    leave_out = LAUNCHER_SOURCE_ONLY
    if any(getattr(key, "algorithm", None) == "rsa" for key in public_keys(keys)):
        leave_out = leave_out - _RSA_MODULES
    return _bootstrap_code(
        keys, trusted_paths=None, bytecode=True, frozen=False, python=python, source_only=leave_out
    )


def _bootstrap_code(
    keys: Any,
    *,
    trusted_paths: Iterable[str] | None,
    bytecode: bool,
    frozen: bool,
    python: str | None,
    source_only: frozenset[str] = frozenset(),
) -> str:
    """``get_bootstrap_code``, and the bytecode of ``source_only`` left out."""
    if not bytecode and not frozen:  # the runtime's own text
        return runtime_bootstrap_code(keys, trusted_paths=trusted_paths)
    sources = runtime_sources()
    if frozen:
        # The freezer compiles the hook and stores it compressed: the payloads are bytes
        # literals, compressed by us (``Z`` + zlib, see the prelude's ``_inflated``), which the
        # freezer then stores as they are. Nothing is base64; the sources are inflated only if
        # needed, the bytecode module by module as each one runs.
        texts = packed([(name, text.encode("utf-8")) for name, text in sources])
        payloads = [f"    sources = {bytes_literal(zipped(texts))}\n"]
    else:
        payloads = [sources_payload(sources)]
    if bytecode:
        magic, codes = compiled_runtime(sources, python)
        codes = {name: code for name, code in codes.items() if name not in source_only}
        if frozen:
            literal = bytes_literal(packed([(name, zipped(code)) for name, code in codes.items()]))
        else:
            literal = pack(list(codes.items()))
        payloads.append(f"    compiled = ({magic.hex()!r}, {literal})\n")
    else:
        payloads.append("    compiled = None\n")
    if frozen:
        if trusted_paths is not None:
            raise ValueError("a frozen-app bootstrap decides its trusted paths itself")
        text = bootstrap_text(
            public_keys(keys),
            sources,
            payloads,
            None,
            prologue=_frozen_prologue(sources),
            install="_pkg.frozen.install(keys)",
            epilogue=FROZEN_GC_TAIL + frozen_epilogue_text(),
        )
        return _frozen_preload(text, sources)
    return bootstrap_text(public_keys(keys), sources, payloads, trusted_paths)


def zipped(data: bytes) -> bytes:
    """``data`` as a frozen bootstrap carries it compressed: ``Z`` and zlib data (level 9)."""
    return b"Z" + zlib.compress(data, 9)


def bytes_literal(data: bytes, width: int = 48) -> str:
    """``data`` as a parenthesised bytes literal over short lines (adjacent literals, joined by
    the compiler), for a bootstrap whose text is compiled by a freezer before it ships."""
    chunks = [repr(data[i : i + width]) for i in range(0, len(data), width)] or ["b''"]
    return "(\n" + "".join(f"        {chunk}\n" for chunk in chunks) + "    )"


#: Left out of a frozen bootstrap's fixed preload: added by ``_signedimp_frozen_preload``
#: (``_bootstrap_frozen_head.py``) where the app hashes, so that a PyInstaller onefile app never
#: loads OpenSSL for nothing. A frozen bootstrap hides nothing from ``sys.path``, so the
#: preload's other purpose does not apply there.
FROZEN_NOT_PRELOADED = ("hashlib",)


def _frozen_preload(text: str, sources: Sequence[tuple[str, str]]) -> str:
    """``text`` with the preload line of a frozen bootstrap (``FROZEN_NOT_PRELOADED`` left out)."""
    modules = deferred_stdlib_imports(sources)
    line = f"\n    preload = {modules!r}\n"
    if text.count(line) != 1:
        raise RuntimeError("the bootstrap text no longer has one preload line")
    kept = tuple(name for name in modules if name not in FROZEN_NOT_PRELOADED)
    return text.replace(line, f"\n    preload = {kept!r} + _signedimp_frozen_preload()\n")


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
    # what digests.py hashes with, imported by name when it first hashes (import_stdlib)
    found.update(BUILTIN_MODULES.values())
    found.add(OPENSSL_MODULE)
    # another Python's spelling (_sha256 before 3.12, _sha2 after) is not this one's to collect
    return sorted(name for name in found if name.split(".")[0] in sys.stdlib_module_names)


def _frozen_prologue(sources: Sequence[tuple[str, str]]) -> str:
    imports = "".join(f"    import {name}\n" for name in runtime_stdlib_imports(sources))
    return (
        "def _signedimp_freezer_imports():  # never called: shows freezers what the runtime imports\n"
        + imports
        + _embedded_text("_bootstrap_frozen_head.py")
        + "\n\n"
        + FROZEN_GC_HEAD
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
    return bootstrap_text(public_keys(keys), sources, payloads, None), members


def _member_literal(name: str, data: bytes) -> str:
    """``(member name, sha256 hex)``: how the bootstrap text refers to (and pins) a member."""
    return repr((name, hashlib.sha256(data).hexdigest()))
