"""The bootstrap's text: the runtime's own sources and the pinned keys as one self-contained script.

A zipapp's ``__main__.py`` or a frozen application's startup script cannot import ``signedimp``
from disk before something verifies it: that is the chicken-and-egg problem. The bootstrap breaks
it by carrying the runtime's sources inside the (trusted or signed) startup file. Executed, it
builds the ``signedimp`` package in ``sys.modules`` from those embedded sources, builds the pinned
keys from literals, and installs a ``SignedImportManager`` first on ``sys.meta_path``.

This is the runtime's part of the generator (``signedimp.get_bootstrap_code``), standard library
only, so that an embedded copy can write a bootstrap too: the sources come from the package's
own files, or from the embedded copy's loader. The code of the text is a runtime module itself,
``bootstrap_prelude.py``, read as source and indented into the generated function. The tools
(``signedimp/tools/_bootstrap.py``) add what needs more: bytecode compiled by another
interpreter, the runtime as zipapp members, the frozen-app variant.

Decisions (documented in docs/frozen-apps.md):

- One verifier per process. If a ``signedimp`` package with a ``SignedImportManager`` is already
  in ``sys.modules`` (the launcher's, under ``signedimp run``, or an earlier bootstrap), it is
  reused rather than replaced: two copies of the runtime would not recognise each other's
  managers and loaders. Code that ran before the bootstrap is trusted by definition (it could
  have done anything), so reusing what it loaded gives nothing away.
- While the embedded modules execute and the manager is built, the ``sys.path`` entries that
  come before the standard library (the script's directory or archive, ``PYTHONPATH``) are
  hidden, so a ``hashlib.py`` dropped into an app cannot shadow a standard-library module the
  verifier itself imports (those of the deferred modules too: ``preload``).
- A manager is installed unless the first one on ``sys.meta_path`` already has exactly these
  keys and trusted paths (running the same bootstrap twice is harmless).

Everything this module imports beyond the runtime's own is imported inside the functions:
they run only to write a bootstrap, never in a verified process.
"""

from __future__ import annotations

import sys

from .__about__ import __version__
from .keys import key_ring
from .submodules import DEFERRED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

__all__ = [
    "FILENAME_PREFIX",
    "NOT_RUNTIME",
    "PRELUDE_MARKER",
    "bootstrap_text",
    "compact",
    "deferred_stdlib_imports",
    "eager_modules",
    "get_bootstrap_code",
    "key_literal",
    "module_text",
    "pack",
    "packed",
    "prelude_text",
    "public_keys",
    "relative_imports",
    "runtime_modules",
    "runtime_sources",
    "sources_digest",
    "sources_payload",
]

#: Modules of ``signedimp/`` that are not runtime: ``__main__`` only hands over to the tools'
#: command line. Every other ``signedimp/*.py`` must be reachable from ``__init__`` by top-level
#: relative imports or be deferred (tests/test_bootstrap.py checks it), so a new runtime module
#: cannot be forgotten; the tools live in ``signedimp/tools/`` and are never embedded.
NOT_RUNTIME: tuple[str, ...] = ("__main__",)

#: The file name prefix of the embedded modules (``<signedimp-bootstrap>/signedimp/keys.py``).
FILENAME_PREFIX = "<signedimp-bootstrap>/signedimp/"

#: The line of ``bootstrap_prelude.py`` after which its text is embedded.
PRELUDE_MARKER = "# ---- EMBEDDED: everything below this line is the bootstrap's fixed text ----\n"

_cache: dict[str, Any] = {}


def _package():
    return sys.modules[__package__]


def module_text(name: str) -> str:
    """The source of the runtime module ``name``, with ``\\n`` line ends.

    From the embedded copy's loader when this runtime was bootstrapped, else from the
    installed package's files (a folder or a zip alike).
    """
    package = _package()
    embedded = getattr(package.__spec__.loader, "text", None)
    if embedded is not None:
        text = embedded(name)
    else:
        import importlib.resources

        text = importlib.resources.files(package).joinpath(f"{name}.py").read_text(encoding="utf-8")
    return text.replace("\r\n", "\n")


def relative_imports(source: str) -> list[str]:
    """The sibling modules that ``source`` imports at module level (``from .x import y``)."""
    import ast

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


def runtime_modules() -> tuple[str, ...]:
    """Runtime modules in execution order: each after those it imports.

    First the modules that run at ``import signedimp`` (``eager_modules``, ``__init__`` last),
    then the deferred ones (``signedimp.submodules.DEFERRED``), each after the deferred modules
    it imports. Computed from the relative imports, so a new runtime module is embedded without
    anyone having to remember a list.
    """
    cached = _cache.get("order")
    if cached is not None:
        return cached
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
        for dep in relative_imports(module_text(name)):
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
    _cache["order"] = result = tuple(order)
    return result


def eager_modules() -> tuple[str, ...]:
    """The runtime modules executed at ``import signedimp`` (an embedded copy's ``names``)."""
    return tuple(name for name in runtime_modules() if name not in DEFERRED)


def runtime_sources() -> list[tuple[str, str]]:
    """(name, source) for every runtime module, in execution order, compacted (``compact``)."""
    return [(name, compact(module_text(name))) for name in runtime_modules()]


def compact(source: str) -> str:
    """``source`` without its docstrings and comments, every code line where it was.

    What a bootstrap embeds: about a third smaller (a source-only bootstrap must fit in one
    ``python -c`` argument, 128 KiB on Linux), while tracebacks and ``linecache`` still show
    the verifier's code at its own line numbers. A docstring becomes ``""`` (a body may hold
    nothing else), its other lines and every comment become blank. Idempotent.
    """
    import ast
    import io
    import tokenize

    lines = source.splitlines(True)
    cuts: list[tuple[int, int, int, int, str]] = []  # (line, col, end line, end col, replacement)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and first.end_lineno is not None
                and first.end_col_offset is not None
            ):
                cuts.append((first.lineno, first.col_offset, first.end_lineno, first.end_col_offset, '""'))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            cuts.append((*token.start, *token.end, ""))
    for line, col, end_line, end_col, replacement in sorted(cuts, reverse=True):
        head = lines[line - 1][:col]
        tail = lines[end_line - 1][end_col:]
        lines[line - 1 : end_line] = [head + replacement + tail] + ["\n"] * (end_line - line)
    return "".join(line.rstrip() + "\n" if line.strip() else "\n" for line in lines)


def sources_digest(sources: Sequence[tuple[str, str]]) -> str:
    """A digest that identifies one embedded runtime: equal digests mean identical code."""
    import hashlib

    h = hashlib.sha256()
    for name, text in sources:
        h.update(name.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return h.hexdigest()


def deferred_stdlib_imports(sources: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The standard-library modules that deferred runtime modules import at their top, sorted.

    An embedded runtime imports them at start-up, while the script's folder is hidden from
    ``sys.path`` (the prelude's ``preload``), so that a module beside the script can never be
    what the verifier runs later; an installed ``signedimp`` imports them on first use.
    """
    import ast

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
    return tuple(sorted(found))  # __future__ too: the eager modules no longer import it


def public_keys(keys: Any) -> list[Any]:
    """The keys to pin, read by ``key_ring`` (its forms, its errors), each one embeddable."""
    result = list(key_ring(keys).values())
    for key in result:
        if getattr(key, "algorithm", None) not in ("ed25519", "rsa"):
            raise TypeError(f"not a signedimp public key (no ed25519 or rsa algorithm): {key!r}")
    if not result:
        raise ValueError("get_bootstrap_code needs at least one public key to pin")
    return result


def prelude_text() -> str:
    """The fixed part of the bootstrap: ``bootstrap_prelude.py`` below its marker, indented
    into the generated function (its docstring says what that code may and may not do)."""
    cached = _cache.get("prelude")
    if cached is not None:
        return cached
    head, marker, body = module_text("bootstrap_prelude").partition(PRELUDE_MARKER)
    if not marker:
        raise RuntimeError("bootstrap_prelude.py has lost its EMBEDDED marker line")
    body = compact(body)
    text = "\n" + "".join("    " + line if line.strip() else "\n" for line in body.splitlines(True)) + "\n"
    _cache["prelude"] = text
    return text


def key_literal(key: Any) -> str:
    """Source text that rebuilds ``key`` from the embedded package (no parsing at run time).

    An Ed25519 key carries its precomputed tables (``ed25519.precompute``): a fresh process
    then neither decodes the key nor computes them (benchmarks/README.md, signature check).
    """
    if key.algorithm == "ed25519":
        from . import ed25519

        public = bytes(key.public_bytes)
        if ed25519.public_key_problem(public) is not None:  # never verifies: nothing to speed up
            return f"_pkg.Ed25519Key(bytes.fromhex({public.hex()!r}))"
        tables = ed25519.precompute(public).hex()  # one line: compiled twice as fast as wrapped
        return f"_pkg.Ed25519Key(bytes.fromhex({public.hex()!r}), precomputed=bytes.fromhex({tables!r}))"
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
    import base64
    import zlib

    text = base64.b64encode(zlib.compress(packed(items), 9)).decode("ascii")
    lines = [text[i : i + 96] for i in range(0, len(text), 96)]
    return "(\n" + "".join(f'        "{line}"\n' for line in lines) + "    )"


def bootstrap_text(
    pinned: list[Any],
    sources: Sequence[tuple[str, str]],
    payloads: list[str],
    trusted_paths: Iterable[str] | None,
    *,
    prologue: str = "",
    install: str | None = None,
    epilogue: str = "",
) -> str:
    """The bootstrap around ``payloads`` (the lines that bind ``sources`` and ``compiled``).

    ``prologue``/``epilogue``: text before and after it at the top level; ``install``: the
    line that installs the manager (default: ``_install`` with ``trusted_paths``). With an
    ``install`` line the script's folder is not hidden: that is the frozen variant, whose
    ``sys.path`` is the app folder's own (verified at start-up).
    """
    trusted = None if trusted_paths is None else tuple(str(p) for p in trusted_paths)
    fingerprints = ", ".join(key.fingerprint for key in pinned)
    parts = [
        f"# signedimp {__version__} bootstrap: the standard-library verifier and its pinned keys.\n",
        "# Generated by signedimp.get_bootstrap_code(); embed verbatim, do not edit.\n",
        f"# Pinned key fingerprints (sha256 of SubjectPublicKeyInfo): {fingerprints}\n",
        prologue,
        "def _signedimp_bootstrap():\n",
        "    import sys\n",
        f"    digest = {sources_digest(sources)!r}\n",
        f"    names = {eager_modules()!r}\n",
        f"    preload = {deferred_stdlib_imports(sources)!r}\n",
        *payloads,
        prelude_text(),
        "    hidden = sys.path[:0]\n" if install else "    hidden = sys.path[: _stdlib_start(sys)]\n",
        "    del sys.path[: len(hidden)]\n",
        "    try:\n",
        "        _pkg = _runtime(sys, globals(), digest, names, sources, compiled, preload)\n",
        "        keys = [" + ", ".join(key_literal(k) for k in pinned) + "]\n",
        f"        return {install or f'_install(sys, _pkg, keys, {trusted!r})'}\n",
        "    finally:\n",
        "        sys.path[:0] = hidden\n",
        "\n\n_signedimp_manager = _signedimp_bootstrap()\ndel _signedimp_bootstrap\n",
        epilogue,
    ]
    return "".join(parts)


def get_bootstrap_code(keys: Any, *, trusted_paths: Iterable[str] | None = None) -> str:
    """One self-contained source text that installs the verifier pinned to ``keys``.

    ``keys``: what ``signedimp.keys.key_ring`` accepts (a public key, a private key whose public
    half is pinned, PEM / ssh-ed25519 text, or an iterable or dict of those). ``trusted_paths``
    is passed to ``SignedImportManager``: ``None`` trusts the standard library directories,
    ``()`` only built-in and frozen modules.
    """
    sources = runtime_sources()
    payloads = [sources_payload(sources), "    compiled = None\n"]
    return bootstrap_text(public_keys(keys), sources, payloads, trusted_paths)


def sources_payload(sources: Sequence[tuple[str, str]]) -> str:
    """The generated line that binds ``sources``: the runtime's texts, packed as a literal."""
    return f"    sources = {pack([(name, text.encode('utf-8')) for name, text in sources])}\n"
