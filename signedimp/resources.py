"""``importlib.resources`` for verified packages: every byte read goes through the manifest.

The stock readers hand out ``pathlib.Path`` or ``zipfile.Path`` objects, which read files
directly and would bypass verification. Here ``files()`` returns a :class:`VerifiedTraversable`
whose reads are checked by the root's :class:`~signedimp.roots.ManifestRoot`.

Both classes follow the ``Traversable`` and ``ResourceReader`` protocols without inheriting
from them: ``importlib.resources`` only calls their methods, and importing its ABCs would
cost several milliseconds at every start of a verified application.
"""

from __future__ import annotations

import io

__all__ = [
    "NamespaceResourceReader",
    "MultiplexedTraversable",
    "VerifiedResourceReader",
    "VerifiedTraversable",
]


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


class VerifiedTraversable:
    """A file or folder below a signed root; reading it verifies it."""

    def __init__(self, root, rel: str, module: str | None = None) -> None:
        self._root = root
        self._rel = rel
        self._module = module

    def __repr__(self) -> str:
        return f"VerifiedTraversable({str(self)!r})"

    def __str__(self) -> str:
        return self._root.entry.display(self._rel) if self._rel else self._root.path

    def __eq__(self, other) -> bool:
        return isinstance(other, VerifiedTraversable) and (self._root, self._rel) == (other._root, other._rel)

    def __hash__(self) -> int:
        return hash((id(self._root), self._rel))

    @property
    def name(self) -> str:
        return self._rel.rpartition("/")[2]

    def iterdir(self):
        for child in self._root.entry.listdir(self._rel):
            yield VerifiedTraversable(self._root, _join(self._rel, child), self._module)

    def is_dir(self) -> bool:
        return self._root.entry.is_dir(self._rel)

    def is_file(self) -> bool:
        return self._root.entry.is_file(self._rel)

    def joinpath(self, *descendants: str) -> VerifiedTraversable:
        parts = [p for p in self._rel.split("/") if p]
        for descendant in descendants:
            for part in str(descendant).replace("\\", "/").split("/"):
                if part in ("", "."):
                    continue
                if part == "..":
                    if not parts:
                        raise ValueError(f"{descendant!r} leads outside {self}")
                    parts.pop()
                else:
                    parts.append(part)
        return VerifiedTraversable(self._root, "/".join(parts), self._module)

    __truediv__ = joinpath

    def read_bytes(self) -> bytes:
        if not self.is_file():
            raise FileNotFoundError(f"{self}: no such resource file")
        return self._root.read_verified(self._rel, self._module)

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        with self.open("r", encoding=encoding, errors=errors) as stream:
            return stream.read()

    def open(self, mode: str = "r", *args, **kwargs):
        if mode not in ("r", "rb"):
            raise ValueError(f"verified resources are read-only; mode {mode!r} is not supported")
        stream = io.BytesIO(self.read_bytes())
        if mode == "rb":
            return stream
        return io.TextIOWrapper(stream, *args, **kwargs)


class VerifiedResourceReader:
    """The resource reader of a verified package (both the ``files()`` and the legacy API)."""

    def __init__(self, root, folder: str, module: str) -> None:
        self._top = VerifiedTraversable(root, folder, module)

    def files(self) -> VerifiedTraversable:
        return self._top

    def open_resource(self, resource: str):
        return self._top.joinpath(resource).open("rb")

    def resource_path(self, resource: str) -> str:
        raise FileNotFoundError(f"{resource}: verified resources have no file-system path; use files()")

    def is_resource(self, path: str) -> bool:
        return self._top.joinpath(path).is_file()

    def contents(self):
        return [child.name for child in self._top.iterdir()]


class MultiplexedTraversable:
    """The merged folders of a namespace package (or a folder present in several portions)."""

    def __init__(self, portions: list) -> None:
        self._portions = portions

    def __repr__(self) -> str:
        return f"MultiplexedTraversable({[str(p) for p in self._portions]!r})"

    def __str__(self) -> str:
        return str(self._portions[0]) if self._portions else "<empty namespace>"

    @property
    def name(self) -> str:
        return self._portions[0].name if self._portions else ""

    def iterdir(self):
        seen = set()
        for portion in self._portions:
            for child in portion.iterdir():
                if child.name not in seen:
                    seen.add(child.name)
                    yield self.joinpath(child.name)

    def is_dir(self) -> bool:
        return True

    def is_file(self) -> bool:
        return False

    def joinpath(self, *descendants: str):
        candidates = [portion.joinpath(*descendants) for portion in self._portions]
        folders = [c for c in candidates if c.is_dir()]
        if len(folders) > 1:
            return MultiplexedTraversable(folders)
        for candidate in candidates:
            if candidate.is_file() or candidate.is_dir():
                return candidate
        if not candidates:
            raise FileNotFoundError(f"{'/'.join(map(str, descendants))}: no such resource")
        return candidates[0]

    __truediv__ = joinpath

    def read_bytes(self) -> bytes:
        raise IsADirectoryError(f"{self}: is a folder")

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        raise IsADirectoryError(f"{self}: is a folder")

    def open(self, mode: str = "r", *args, **kwargs):
        raise IsADirectoryError(f"{self}: is a folder")


class NamespaceResourceReader(VerifiedResourceReader):
    """Resource reader of a namespace package: its portions, each verified against its root."""

    def __init__(self, portions: list) -> None:
        self._top = MultiplexedTraversable(portions)  # type: ignore[assignment]  # same protocol
