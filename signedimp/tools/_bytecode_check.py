"""Stale bytecode: a ``.pyc`` whose header no longer matches the source beside it.

Listed bytecode wins over listed source at run time (its hash is its proof), so signing a
``.pyc`` compiled from an older ``.py`` would silently run the old code. The signers ask
:func:`stale_reason` about every ``.pyc`` whose source is in the same tree and leave out the
stale ones, saying which and why (:func:`report_left_out`); the runtime then compiles the listed source.

Only headers of the PEP 552 layout (Python 3.7+, 16 bytes) are judged: timestamp-based ones by
the source's mtime and size, hash-based ones (checked or unchecked) by the source's SipHash
keyed with the pyc's own magic number, so bytecode of another Python version is judged too.
Anything else (an older or unknown magic) stays listed: the runtime never uses it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable, Mapping

#: The first magic number of the 16-byte header (Python 3.7a1).
_PEP552_MAGIC = 3390
HEADER_SIZE = 16


def source_of(rel: str) -> str | None:
    """The source path (same tree, ``/``-separated) of bytecode ``rel``, or None if not bytecode.

    ``pkg/__pycache__/mod.cpython-312.pyc`` (also ``.opt-1``) -> ``pkg/mod.py``; a zipimport-style
    ``pkg/mod.pyc`` -> ``pkg/mod.py``.
    """
    if not rel.endswith(".pyc"):
        return None
    folder, _, name = rel.rpartition("/")
    if folder == "__pycache__" or folder.endswith("/__pycache__"):
        parent = folder[: -len("__pycache__")]
        stem = name.split(".", 1)[0]
        return f"{parent}{stem}.py" if stem and name.count(".") >= 2 else None
    return rel[:-1]


#: Why bytecode is left out of a manifest (the values of :func:`stale_reason`).
SOURCE_CHANGED = "source changed since compiled"
CANNOT_CHECK = "hash-based bytecode whose source hash this Python cannot compute (SipHash family)"


def stale_reason(
    header: bytes, mtime: int, size: int, source: Callable[[], bytes], slack: int = 0
) -> str | None:
    """Why the 16-byte ``header`` cannot be trusted to match this source, or None when it does.

    ``mtime``/``size`` describe the source (as the import system reads them); ``source`` gives
    its bytes, read only for hash-based bytecode. ``slack``: seconds of mtime tolerance (zip
    members keep times to 2 seconds). :data:`SOURCE_CHANGED`: compiled from other source;
    :data:`CANNOT_CHECK`: hash-based bytecode of a Python on the other side of 3.11's SipHash
    change, which this interpreter cannot judge.
    """
    if len(header) < HEADER_SIZE or header[2:4] != b"\r\n":
        return None
    magic = int.from_bytes(header[:2], "little")
    if magic < _PEP552_MAGIC:
        return None
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:
        digest = _source_hash(header[:4], source())
        if digest == b"":
            return CANNOT_CHECK
        return SOURCE_CHANGED if digest is not None and digest != header[8:16] else None
    stamp = int.from_bytes(header[8:12], "little")
    recorded_size = int.from_bytes(header[12:16], "little")
    if recorded_size != size & 0xFFFFFFFF or abs(stamp - (mtime & 0xFFFFFFFF)) > slack:
        return SOURCE_CHANGED
    return None


#: The first magic number of CPython 3.11 (3.11a1), whose source hashes use SipHash-1-3.
_SIPHASH13_MAGIC = 3450


def _source_hash(magic: bytes, data: bytes) -> bytes | None:
    """SipHash of ``data`` keyed as the Python that wrote ``magic`` keys it (importlib.util.source_hash)."""
    import importlib.util

    if magic == importlib.util.MAGIC_NUMBER:
        return importlib.util.source_hash(data)
    # CPython 3.11 moved from SipHash-2-4 to SipHash-1-3 (magic 3450 on): across that line this
    # interpreter cannot compute the other's source hash: b"" (CANNOT_CHECK), so such bytecode
    # is left out and its listed source is compiled instead.
    if (int.from_bytes(magic[:2], "little") >= _SIPHASH13_MAGIC) != (sys.version_info >= (3, 11)):
        return b""
    try:
        import _imp

        return _imp.source_hash(int.from_bytes(magic, "little"), data)
    except (ImportError, AttributeError):  # not CPython: cannot judge, keep it listed
        return None


def report_left_out(where: str, stale: Mapping[str, str], action: str = "left out") -> None:
    """Say on stderr which bytecode was left out and why (the signer never does it silently).

    ``stale``: bytecode name -> reason (:func:`stale_reason`); one line per reason.
    ``action``: "left out" (of a folder's manifest) or "removed" (from an archive).
    """
    for reason in (SOURCE_CHANGED, CANNOT_CHECK):
        names = sorted(name for name, why in stale.items() if why == reason)
        if not names:
            continue
        shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
        what = "stale bytecode" if reason == SOURCE_CHANGED else "unchecked bytecode"
        print(
            f"signedimp: {where}: {action} {len(names)} {what} file{'s' if len(names) != 1 else ''} "
            f"({reason}; the listed source is used instead): {shown}",
            file=sys.stderr,
        )
