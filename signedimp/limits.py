"""The size limits every read of untrusted input obeys, in one place (docs/threat-model.md).

Hostile input must fail cleanly and cheaply: a small zip that inflates to gigabytes, a sparse
16 GiB manifest, a central directory claiming millions of entries, or a folder nested a
thousand deep is refused with a reason, before it can exhaust memory or the stack. The limits
are far above what real packages need (the largest wheels on PyPI hold members of a few
hundred MB), and are the same for the runtime, ``signedimp verify`` and ``signedimp sign``, so
that the three never disagree about what an artifact holds.
"""

from __future__ import annotations

__all__ = [
    "MAX_MEMBER_SIZE",
    "MAX_MANIFEST_SIZE",
    "MAX_ZIP_ENTRIES",
    "MAX_CENTRAL_DIRECTORY_SIZE",
    "MAX_TREE_DEPTH",
    "READ_CHUNK",
]

#: Largest file (a zip member's declared size, or a file on disk) that is read and hashed:
#: module source, bytecode, extension modules, and data read through a loader.
MAX_MEMBER_SIZE = 512 * 1024 * 1024

#: Largest manifest read: 64 MiB holds about 600,000 file lines.
MAX_MANIFEST_SIZE = 64 * 1024 * 1024

#: Most entries a zip's central directory may hold.
MAX_ZIP_ENTRIES = 1_000_000

#: Largest central directory read (one read, in memory).
MAX_CENTRAL_DIRECTORY_SIZE = 256 * 1024 * 1024

#: Deepest folder nesting below a signed folder that the signer and ``verify`` walk.
MAX_TREE_DEPTH = 256

#: Reads and inflation go in steps of at most this many bytes.
READ_CHUNK = 1024 * 1024
