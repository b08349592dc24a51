"""Read the dynamic-linking facts of an ELF shared object: SONAME, DT_NEEDED, RPATH, RUNPATH.

An extension module loaded from a sealed memfd (``/proc/self/fd/N``) has no folder, so the
``$ORIGIN`` in its RPATH points nowhere and the libraries that auditwheel bundles beside the
package (``$ORIGIN/../pkg.libs``) are not found. :mod:`signedimp.extensions` loads those
libraries itself, verified, before the extension; to know which ones and in which order it
needs what this module reads.

Only the program headers are used (section headers may be stripped): ``PT_DYNAMIC`` gives the
dynamic entries, ``PT_LOAD`` maps the string table's address to a file offset. The input is
bytes already in memory (and already verified); every offset is checked against its length and
the number of entries is capped, so a malformed file costs at most one pass over its headers.
"""

from __future__ import annotations

import struct

__all__ = ["DynamicInfo", "ElfError", "read_dynamic"]

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
_MAX_DYNAMIC_ENTRIES = 65536


class ElfError(ValueError):
    """The bytes start like an ELF file but their headers are inconsistent."""


class DynamicInfo:
    """What the dynamic linker reads from one object: its SONAME, needs and search paths."""

    __slots__ = ("soname", "needed", "rpath", "runpath")

    def __init__(
        self,
        soname: str | None = None,
        needed: tuple[str, ...] = (),
        rpath: tuple[str, ...] = (),
        runpath: tuple[str, ...] = (),
    ) -> None:
        self.soname = soname
        self.needed = needed
        self.rpath = rpath
        self.runpath = runpath

    def __repr__(self) -> str:
        return (
            f"DynamicInfo(soname={self.soname!r}, needed={self.needed!r}, "
            f"rpath={self.rpath!r}, runpath={self.runpath!r})"
        )


def read_dynamic(data: bytes) -> DynamicInfo | None:
    """The dynamic section of the ELF image ``data``; None if ``data`` is not ELF at all.

    Raises :class:`ElfError` when it is ELF but an offset or size points outside the image.
    """
    if len(data) < 16 or data[:4] != b"\x7fELF":
        return None
    klass, encoding = data[4], data[5]
    if klass not in (1, 2) or encoding not in (1, 2):
        raise ElfError(f"unknown ELF class {klass} or data encoding {encoding}")
    end = "<" if encoding == 1 else ">"
    if klass == 2:
        header, phdr, dyn = (
            struct.Struct(end + "HHIQQQIHHHHHH"),
            struct.Struct(end + "IIQQQQQQ"),
            struct.Struct(end + "qQ"),
        )
    else:
        header, phdr, dyn = (
            struct.Struct(end + "HHIIIIIHHHHHH"),
            struct.Struct(end + "IIIIIIII"),
            struct.Struct(end + "iI"),
        )
    fields = _unpack(header, data, 16, "ELF header")
    phoff, phentsize, phnum = fields[4], fields[8], fields[9]
    if phnum and phentsize < phdr.size:
        raise ElfError(f"program header entries of {phentsize} bytes are too small")

    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        entry = _unpack(phdr, data, phoff + i * phentsize, "program header")
        if klass == 2:
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = entry
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = entry
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == _PT_DYNAMIC and dynamic is None:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return DynamicInfo()

    offset, size = dynamic
    if offset + size > len(data):
        raise ElfError("the dynamic segment lies outside the file")
    tags: list[tuple[int, int]] = []
    strtab = strsz = None
    for i in range(min(size // dyn.size, _MAX_DYNAMIC_ENTRIES)):
        tag, value = dyn.unpack_from(data, offset + i * dyn.size)
        if tag == _DT_NULL:
            break
        if tag == _DT_STRTAB:
            strtab = value
        elif tag == _DT_STRSZ:
            strsz = value
        elif tag in (_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH):
            tags.append((tag, value))
    if not tags:
        return DynamicInfo()
    if strtab is None or strsz is None:
        raise ElfError("the dynamic section has names but no string table")
    base = _file_offset(strtab, loads)
    limit = min(base + strsz, len(data))

    def string(index: int) -> str:
        start = base + index
        stop = data.find(b"\0", start, limit) if start < limit else -1
        if stop < 0:
            raise ElfError(f"string {index} runs past the string table")
        return data[start:stop].decode("utf-8", "surrogateescape")

    soname = None
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    for tag, value in tags:
        if tag == _DT_NEEDED:
            needed.append(string(value))
        elif tag == _DT_SONAME:
            soname = string(value)
        elif tag == _DT_RPATH:
            rpath.extend(p for p in string(value).split(":") if p)
        else:
            runpath.extend(p for p in string(value).split(":") if p)
    return DynamicInfo(soname, tuple(needed), tuple(rpath), tuple(runpath))


def _unpack(layout: struct.Struct, data: bytes, offset: int, what: str) -> tuple:
    if offset < 0 or offset + layout.size > len(data):
        raise ElfError(f"the {what} at offset {offset} lies outside the file")
    return layout.unpack_from(data, offset)


def _file_offset(address: int, loads: list[tuple[int, int, int]]) -> int:
    for vaddr, filesz, offset in loads:
        if vaddr <= address < vaddr + filesz:
            return address - vaddr + offset
    raise ElfError(f"address {address:#x} is in no loaded segment")
