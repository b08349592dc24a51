"""The result of an offline audit: ``VerifyReport`` of one path, ``FileResult`` per file, ``Problem``s.

Kept apart from the audit itself so the command line can print and serialise reports
(``--json``) with plain attributes and ``to_dict()``, without knowing how they were made.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Any

OK, MODIFIED, MISSING, UNLISTED, SKIPPED = "ok", "modified", "missing", "unlisted", "skipped"

# Characters a name must not carry into a line of text output: C0 and C1 controls and DEL (a
# newline could start a forged "OK" line, an ANSI escape could rewrite the terminal), line and
# paragraph separators, bidirectional overrides and isolates (Trojan Source), and the lone
# surrogates os.fsdecode makes of undecodable bytes.
_ESCAPED = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_ESCAPED.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_ESCAPED.update(
    {
        c: f"\\u{c:04x}"
        for c in (*range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    }
)
_ESCAPED.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})


def shown(text: str) -> str:
    """``text`` safe for one line of terminal output: control characters, separators, bidi
    controls and undecodable bytes (surrogate escapes) written as backslash escapes."""
    if text.isprintable() and text.isascii():
        return text
    escaped = text.translate(_ESCAPED)
    # Any other lone surrogate (not from a byte), so that printing never fails.
    return (
        escaped.encode("utf-8", "backslashreplace").decode("utf-8")
        if any("\ud800" <= c <= "\udfff" for c in escaped)
        else escaped
    )


FAILING = frozenset({MODIFIED, MISSING, UNLISTED})


class _Record:
    """Slots, keyword-friendly init, equality and repr: what a small frozen dataclass gives,
    without importing dataclasses (and inspect) in every signed build."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class FileResult(_Record):
    """The audit result of one file.

    ``status``: ok; modified; missing (listed but absent); unlisted (no trusted manifest lists
    it); skipped (reported, not a failure: see ``detail``).
    """

    __slots__ = ("path", "status", "expected", "actual", "detail")

    def __init__(
        self,
        path: str,
        status: str,
        expected: str | None = None,
        actual: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.path = path
        self.status = status
        self.expected = expected
        self.actual = actual
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in zip(self.__slots__, self._values()) if v is not None}


class Problem(_Record):
    """A problem above file level: a manifest malformed, untrusted, forged; RECORD wrong; ..."""

    __slots__ = ("kind", "where", "message")

    def __init__(self, kind: str, where: str, message: str) -> None:
        self.kind = kind
        self.where = where
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "message": self.message}


class VerifyReport:
    """A full offline audit of one path; ``ok`` only when every file is vouched for and intact."""

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.files: list[FileResult] = []
        self.problems: list[Problem] = []
        self.manifests: dict[str, str | None] = {}
        #: manifest path -> every trusted key whose signature on it verified, in manifest order
        self.signers: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"VerifyReport(path={self.path!r}, kind={self.kind!r}, ok={self.ok})"

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failures

    @property
    def failures(self) -> list[FileResult]:
        return [f for f in self.files if f.status in FAILING]

    def all_signers(self) -> list[str]:
        """Every trusted key that signed a valid manifest of this path, sorted."""
        found = {fp for fps in self.signers.values() for fp in fps}
        found.update(fp for fp in self.manifests.values() if fp)
        return sorted(found)

    def counts(self) -> dict[str, int]:
        counts = {OK: 0, MODIFIED: 0, MISSING: 0, UNLISTED: 0, SKIPPED: 0}
        for result in self.files:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "ok": self.ok,
            "counts": self.counts(),
            "manifests": [
                {"path": p, "signed_by": fp, "signers": self.signers.get(p, [fp] if fp else [])}
                for p, fp in sorted(self.manifests.items())
            ],
            "signers": self.all_signers(),
            "problems": [p.to_dict() for p in self.problems],
            "files": [f.to_dict() for f in self.files],
        }
