"""The signed manifest: which files a sys.path entry holds, and their SHA-256.

The format is deliberately rigid (see docs/internals.md and DESIGN.md "The manifest"): a
manifest has exactly one byte representation, so that ``parse`` and ``serialise`` are exact
inverses, what is signed is exactly what is checked, and nothing is ever silently skipped::

    <fingerprint> <base64 signature>      one or more, fingerprints unique
                                          one empty line
    sha256                                the hash type
    <64 lowercase hex> <path>             sorted by the UTF-8 bytes of the path, unique

This module is part of the runtime: standard library only, and only modules that are cheap to
import (no ``re``, no ``dataclasses``), because it is loaded before anything else is verified.
"""

from __future__ import annotations

import binascii

from .errors import ManifestError, SignatureMismatch
from .keys import _b64decode_strict, key_ring

# types.MappingProxyType without importing types (deferred modules import only what
# `import signedimp` has loaded, or hashlib: see submodules.py)
MappingProxyType = type(type.__dict__)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing at run time costs start-up time
    from collections.abc import Iterable, Iterator, Mapping

    from .keys import Ed25519Key, RSAKey

__all__ = ["MANIFEST_NAME", "HASH_TYPE", "Signature", "Manifest", "check_path", "unlisted_and_missing"]

MANIFEST_NAME = "signedimp-manifest.txt"
HASH_TYPE = "sha256"

_HEX_DIGITS = "0123456789abcdef"
_BOM = b"\xef\xbb\xbf"
# The tables below are built by C calls, not generator expressions: this module runs in every
# process that checks a manifest, and a Python loop over 256 bytes there costs 0.3 M instructions.
# C0 controls, DEL and C1 controls (Unicode category Cc): never part of a path we accept.
_CONTROL_CHARS = frozenset(bytes((*range(0x20), *range(0x7F, 0xA0))).decode("latin-1"))
_BAD_SEGMENTS = frozenset(("", ".", ".."))
_C1_CONTROLS = tuple(bytes(range(0x80, 0xA0)).decode("latin-1"))
_HEX_BYTES = _HEX_DIGITS.encode("ascii")
# Bytes that may appear in a manifest: "\n", printable ASCII but the backslash, and the bytes of
# multi-byte UTF-8 sequences (whose C1 controls _decode_text looks for separately).
_ALLOWED_BYTES = b"\n" + bytes(range(0x20, 0x5C)) + bytes(range(0x5D, 0x7F)) + bytes(range(0x80, 0x100))
# _parse_fast's view of a file: every byte no line may hold becomes a backslash (itself one).
_DISALLOWED_BYTES = bytes((*range(0x0A), *range(0x0B, 0x20), 0x7F))  # and the backslash itself
_BAD_TO_BACKSLASH = bytes(range(256)).translate(
    bytes.maketrans(_DISALLOWED_BYTES, b"\\" * len(_DISALLOWED_BYTES))
)
_HASH_TYPE_LINE = f"{HASH_TYPE}\n".encode("ascii")
_BAD_BYTE_NAMES = {0x00: "NUL", 0x09: "tab", 0x0D: "carriage return (CR)", 0x5C: "backslash"}


# -- small validators, shared by the parser and the constructor -------------------------------


def _is_hex_digest(text: str) -> bool:
    """64 lowercase hex digits: the only spelling of a SHA-256 digest or key fingerprint."""
    return len(text) == 64 and not text.strip(_HEX_DIGITS)


def _path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid manifest path, or None when it is."""
    if not path:
        return "empty path"
    if "\\" in path:
        return "backslash in path (use '/')"
    if not _CONTROL_CHARS.isdisjoint(path):
        return "control character in path"
    if path[0] == "/":
        return "absolute path"
    if len(path) >= 2 and path[1] == ":" and path[0].isascii() and path[0].isalpha():
        return "drive letter in path"
    segments = path.split("/")
    if not _BAD_SEGMENTS.isdisjoint(segments):
        if ".." in segments:
            return "'..' segment in path"
        if "." in segments:
            return "'.' segment in path"
        return "empty segment in path"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from os.fsdecode of undecodable names
        return "path is not encodable as UTF-8"
    return None


def check_path(path: str) -> None:
    """Raise ValueError unless ``path`` is a valid manifest path.

    Valid means relative, '/'-separated, with no empty, '.' or '..' segment, no backslash, no
    control character and no drive letter: such a path can only name a file inside the root it
    is relative to, on every platform.
    """
    if not isinstance(path, str):
        raise ValueError(f"manifest path must be a str, not {type(path).__name__}")
    problem = _path_problem(path)
    if problem is not None:
        raise ValueError(f"{problem}: {path!r}")


def _decode_base64(text: str) -> bytes | None:
    """Decode strict, canonical, standard base64 (``keys._b64decode_strict``); None if it is not
    that or decodes to nothing. Canonical, so that a manifest has one spelling."""
    try:
        return _b64decode_strict(text) or None
    except binascii.Error:
        return None


def _encode_base64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


# -- signature lines ---------------------------------------------------------------------------


class Signature:
    """One signature line: the trusted key it claims (by fingerprint) and the signature bytes.

    An immutable value, like a frozen dataclass, written by hand because importing
    ``dataclasses`` (and with it ``inspect``) would slow down every application's start-up.
    """

    __slots__ = ("fingerprint", "signature")

    fingerprint: str
    signature: bytes

    def __init__(self, fingerprint: str, signature: bytes) -> None:
        if not isinstance(fingerprint, str) or not _is_hex_digest(fingerprint):
            raise ManifestError(f"key fingerprint must be 64 lowercase hex digits: {fingerprint!r}")
        if isinstance(signature, (bytearray, memoryview)):
            signature = bytes(signature)
        if not isinstance(signature, bytes) or not signature:
            raise ManifestError("signature must be non-empty bytes")
        object.__setattr__(self, "fingerprint", fingerprint)
        object.__setattr__(self, "signature", signature)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Signature is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Signature is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.fingerprint, self.signature) == (other.fingerprint, other.signature)

    def __hash__(self) -> int:
        return hash((self.fingerprint, self.signature))

    def __repr__(self) -> str:
        return f"Signature(fingerprint={self.fingerprint!r}, signature={self.signature!r})"

    def __reduce__(self):
        return (Signature, (self.fingerprint, self.signature))

    def line(self) -> str:
        """The manifest line for this signature, without its line end."""
        return f"{self.fingerprint} {_encode_base64(self.signature)}"


def _parse_signature_line(line: str) -> Signature | str:
    """A Signature, or the reason why ``line`` is not a valid signature line."""
    if line == HASH_TYPE:
        return "expected a signature line or the empty line, found the hash type (missing empty line?)"
    fingerprint, space, encoded = line.partition(" ")
    if not space:
        return "expected '<fingerprint> <base64 signature>'"
    if not _is_hex_digest(fingerprint):
        if _is_hex_digest(fingerprint.lower()):
            return "key fingerprint must be lowercase hex"
        return "key fingerprint is not 64 lowercase hex digits"
    raw = _decode_base64(encoded)
    if raw is None:
        return "signature is not strict, non-empty, standard base64"
    return Signature(fingerprint, raw)


# -- the manifest --------------------------------------------------------------------------------


class Manifest:
    """A parsed (or freshly built) manifest: path -> SHA-256 hex digest, plus signature lines.

    Immutable; ``hashes`` is a read-only view kept in manifest order (UTF-8 bytes of the path),
    so lookups are a dict access and ``serialise`` needs no sorting.
    """

    __slots__ = ("_hashes", "_signatures", "_source", "_signed")

    def __init__(
        self,
        hashes: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        signatures: Iterable[Signature] = (),
        *,
        source: str | None = None,
    ) -> None:
        items = []
        for path, digest in dict(hashes).items():
            if not isinstance(path, str):
                raise ManifestError(f"manifest path must be a str, not {type(path).__name__}", source=source)
            problem = _path_problem(path)
            if problem is not None:
                raise ManifestError(f"{problem}: {path!r}", source=source)
            if not isinstance(digest, str) or not _is_hex_digest(digest):
                raise ManifestError(
                    f"hash of {path!r} is not 64 lowercase hex digits: {digest!r}", source=source
                )
            items.append((path, digest))
        items.sort()  # code point order, which is the order of the UTF-8 bytes
        sigs = tuple(signatures)
        seen = set()
        for sig in sigs:
            if not isinstance(sig, Signature):
                raise TypeError(f"expected a Signature, not {type(sig).__name__}")
            if sig.fingerprint in seen:
                raise ManifestError(f"two signature lines for key {sig.fingerprint}", source=source)
            seen.add(sig.fingerprint)
        self._init(dict(items), sigs, source)

    def _init(self, hashes: dict[str, str], signatures: tuple[Signature, ...], source: str | None) -> None:
        self._hashes = hashes
        self._signatures = signatures
        self._source = source
        self._signed: bytes | None = None

    @classmethod
    def _from_valid(
        cls, hashes: dict[str, str], signatures: tuple[Signature, ...], source: str | None
    ) -> Manifest:
        """Build without re-validating: for data that ``parse`` has already checked."""
        self = cls.__new__(cls)
        self._init(hashes, signatures, source)
        return self

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str, source: str | None = None) -> Manifest:
        """Parse the bytes of a manifest file (or its text, as UTF-8), strictly.

        Any deviation from the one valid spelling raises ManifestError naming ``source`` (the
        file, when known), the 1-based line and the reason: nothing is skipped or repaired.
        """
        data = _manifest_bytes(data, source)

        parsed = _parse_fast(data)
        if parsed is None:  # unusual or malformed: the line-by-line parse decides, names the problem
            parsed = _parse_line_by_line(data, source)
        signatures, hashes = parsed
        return cls._from_valid(hashes, signatures, source)

    @classmethod
    def parse_trusted(
        cls, data: bytes | str, keys: object, source: str | None = None
    ) -> tuple[Manifest | None, Ed25519Key | RSAKey | None, tuple[str, ...]]:
        """Check the signatures first, then parse: (manifest, key, fingerprints of all lines).

        For manifests of unknown provenance (everything the runtime and ``verify`` read): the
        signature lines are read one at a time; when no line names a trusted key, nothing
        else is looked at and (None, None, fingerprints) is returned. Otherwise every trusted
        line must verify over the signed bytes (SignatureMismatch if one does not) before the
        file lines are parsed, strictly, as ``parse`` does. So an unsigned or forged manifest
        costs a scan of its first lines and one signature check, never a full parse.
        """
        data = _manifest_bytes(data, source)

        def fail(reason: str, line: int) -> ManifestError:
            return ManifestError(reason, line=line, source=source)

        signatures, body_start = _read_signature_block(data, fail)
        fingerprints = tuple(sig.fingerprint for sig in signatures)
        ring = key_ring(keys)
        trusted = [(sig, ring[sig.fingerprint]) for sig in signatures if sig.fingerprint in ring]
        if not trusted:
            return None, None, fingerprints
        if not data.endswith(b"\n"):
            raise fail("missing newline at the end of the file", data.count(b"\n") + 1)
        _check_hash_type(data, body_start, len(signatures) + 2, fail)
        signed = data[body_start:]
        for sig, key in trusted:
            if key.verify(signed, sig.signature) is not True:
                raise SignatureMismatch(sig.fingerprint, source)
        manifest = cls.parse(data, source=source)
        manifest._signed = signed  # parse is strict: the same bytes signed_bytes() would build
        return manifest, trusted[0][1], fingerprints

    @property
    def hashes(self) -> Mapping[str, str]:
        """Path -> lowercase hex SHA-256, read-only, in manifest order."""
        return MappingProxyType(self._hashes)

    @property
    def signatures(self) -> tuple[Signature, ...]:
        return self._signatures

    @property
    def source(self) -> str | None:
        """Where the manifest was read from, for error messages (not part of equality)."""
        return self._source

    def lookup(self, path: str) -> str | None:
        """The hex digest listed for ``path``, or None when the manifest does not list it."""
        return self._hashes.get(path)

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, path: object) -> bool:
        return path in self._hashes

    def __iter__(self) -> Iterator[str]:
        return iter(self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self._signatures == other._signatures and self._hashes == other._hashes

    def __hash__(self) -> int:
        return hash((self._signatures, self.signed_bytes()))

    def __repr__(self) -> str:
        where = f" from {self._source!r}" if self._source else ""
        return f"<Manifest{where}: {len(self._hashes)} files, {len(self._signatures)} signatures>"

    # -- writing ---------------------------------------------------------------------------------

    def signed_bytes(self) -> bytes:
        """The bytes every signature covers: the hash type line and the file lines."""
        if self._signed is None:
            body = "".join(f"{digest} {path}\n" for path, digest in self._hashes.items())
            self._signed = f"{HASH_TYPE}\n{body}".encode()
        return self._signed

    def serialise(self) -> bytes:
        """The manifest file: signature lines, the empty line, then ``signed_bytes()``.

        A manifest without a signature is no manifest file (``parse`` would refuse it), so it
        cannot be serialised: sign ``signed_bytes()`` and add the line with ``with_signature``.
        """
        if not self._signatures:
            raise ManifestError(
                "an unsigned manifest cannot be serialised: it needs at least one signature line",
                source=self.source,
            )
        head = "".join(f"{sig.line()}\n" for sig in self._signatures)
        return f"{head}\n".encode("ascii") + self.signed_bytes()

    def with_signature(self, sig: Signature) -> Manifest:
        """A copy with ``sig`` added, replacing the line of the same key if there is one."""
        if not isinstance(sig, Signature):
            raise TypeError(f"expected a Signature, not {type(sig).__name__}")
        sigs = list(self._signatures)
        for position, old in enumerate(sigs):
            if old.fingerprint == sig.fingerprint:
                sigs[position] = sig
                break
        else:
            sigs.append(sig)
        copy = Manifest._from_valid(self._hashes, tuple(sigs), self._source)
        copy._signed = self._signed
        return copy

    # -- trust -----------------------------------------------------------------------------------

    def verify(self, keys: object) -> Ed25519Key | RSAKey | None:
        """The first trusted key whose signature line verifies, or None if no line is trusted.

        ``keys``: what ``keys.key_ring`` accepts (public or private keys, PEM or ssh text, an
        iterable or dict of them; a key has ``.fingerprint`` and ``.verify(message, signature)
        -> bool``, so keys of another copy of the runtime work too). Lines by unknown keys are
        ignored; a line by a trusted key that does not verify means tampering, so it raises
        SignatureMismatch even when another trusted line verifies.
        """
        ring = key_ring(keys)
        message = self.signed_bytes()
        verified = None
        for sig in self._signatures:
            key = ring.get(sig.fingerprint)
            if key is None:
                continue
            if key.verify(message, sig.signature) is not True:
                raise SignatureMismatch(sig.fingerprint, self._source)
            if verified is None:
                verified = key
        return verified


def _manifest_bytes(data: object, source: str | None) -> bytes:
    """The bytes to parse: ``bytes`` as they are, a buffer copied, a ``str`` (a manifest read
    as text) encoded as UTF-8, which is what the file must hold."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ManifestError(
                f"not UTF-8 text: {exc.reason} at character {exc.start}", source=source
            ) from None
    raise TypeError(f"a manifest is parsed from bytes or str, not {type(data).__name__}")


def _parse_fast(data: bytes) -> tuple[tuple[Signature, ...], dict[str, str]] | None:
    """(signatures, path -> digest) of a well-formed manifest, proved with whole-file passes.

    The fast path of ``parse``: a dozen C-speed operations over the whole file instead of
    several per line; most of what remains is the one split and the dict. It only ever proves
    validity; None means "not proved" (a malformed file, or only an unusual one: a space, a
    ':' or a '/.' in a path) and the line-by-line parse then decides and names the problem.
    Every rule of that parse is covered here:

    - The signature lines (before the first empty line) are parsed one by one, strictly, and
      ASCII; the next line is ``sha256``; the file ends with a line end.
    - One ``bytes.translate`` deletes the lowercase hex digits and turns every byte that no
      line may hold (control characters such as tab, CR, NUL, DEL; the backslash) into a
      backslash: there must be none. Of each file line a space, the path's other bytes and the
      line end are left: every line left must start with its space, so the line held nothing
      but lowercase hex before it.
    - Valid UTF-8 (the decoder rejects overlong forms and surrogates), no C1 control.
    - Split at every space and line end, there are exactly two tokens per line: so one space
      per line, and the tokens alternate digest, path. Every digest is 64 characters; the
      paths are strictly increasing (code point order is UTF-8 byte order), so also unique.
    - Joined between "/" separators, every segment of every path sits between two "/": "//"
      finds an empty segment (and an empty, absolute or trailing-slash path), "/./" and "/../"
      the dot segments; a ':' as second character might be a drive letter.
    """
    end = data.find(b"\n\n")
    if end <= 0 or not data.startswith(_HASH_TYPE_LINE, end + 2) or not data.endswith(b"\n"):
        return None
    head = data[:end]
    if not head.isascii():
        return None
    signatures = []
    for line in head.decode("ascii").split("\n"):
        parsed = _parse_signature_line(line)
        if isinstance(parsed, str):
            return None
        signatures.append(parsed)
    if len({sig.fingerprint for sig in signatures}) != len(signatures):
        return None
    # One pass for the byte rules and the digests: hex digits go, a byte no line may hold
    # becomes a backslash (one itself), the rest stays. A file line "<digest> <path>\n" leaves
    # " ", what its path holds but hex digits, and "\n". So if every line of what is left
    # starts with a space (before it, the line held lowercase hex only) and there are as many
    # spaces as lines (one per line: checked below, with the tokens), the lines are well formed.
    kept = data.translate(_BAD_TO_BACKSLASH, _HEX_BYTES)
    if b"\\" in kept:
        return None
    body = len(data[: end + 2 + len(_HASH_TYPE_LINE)].translate(None, _HEX_BYTES))
    if len(kept) == body:  # the file ends with "sha256\n": no file line
        count = 0
    elif kept.startswith(b" ", body):
        count = kept.count(b"\n ", body) + 1  # lines that start with a space
    else:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if b"\xc2" in data and any(char in text for char in _C1_CONTROLS):
        return None
    if not count:
        return tuple(signatures), {}
    # Split at every space and line end: two tokens per signature line, "" for the empty line,
    # "sha256", then digest and path of each file line, and "" after the final line end. The
    # file lines hold at least as many spaces as lines, and as many line ends; as many
    # tokens as both together means exactly one of each per line.
    tokens = text.replace("\n", " ").split(" ")
    del text, kept  # freed before the next big allocations reuse the memory (fewer page faults)
    first = 2 * len(signatures) + 2
    if len(tokens) != first + 2 * count + 1:
        return None
    digests = tokens[first:-1:2]
    paths = tokens[first + 1 :: 2]
    # All lowercase hex already; joined by line ends, 64-character digests put one at every
    # 65th character and nowhere else.
    joined = "\n".join(digests)
    if len(joined) != 65 * count - 1 or joined[64::65] != "\n" * (count - 1):
        return None
    if paths != sorted(paths):
        return None
    hashes = dict(zip(paths, digests))
    if len(hashes) != count:
        return None
    wrapped = "/" + "/".join(paths) + "/"
    if "//" in wrapped or ("/." in wrapped and ("/./" in wrapped or "/../" in wrapped)):
        return None
    if ":" in wrapped and any(path[1:2] == ":" for path in paths):
        return None
    return tuple(signatures), hashes


def _parse_line_by_line(data: bytes, source: str | None) -> tuple[tuple[Signature, ...], dict[str, str]]:
    """(signatures, path -> digest), checked line by line: the first problem raises
    ManifestError naming the line and the reason. Slower than ``_parse_fast``, and the judge."""

    def fail(reason: str, line: int) -> ManifestError:
        return ManifestError(reason, line=line, source=source)

    text = _decode_text(data, fail)
    lines = text.split("\n")
    lines.pop()  # the empty string after the final "\n"
    count = len(lines)

    # Signature lines, up to the first empty line.
    signatures = []
    fingerprints = set()
    index = 0
    while index < count and lines[index]:
        parsed = _parse_signature_line(lines[index])
        if isinstance(parsed, str):
            if index == 0 and lines[0] == HASH_TYPE:
                parsed = "missing signature line: the manifest must start with one"
            raise fail(parsed, index + 1)
        if parsed.fingerprint in fingerprints:
            raise fail(f"second signature line for key {parsed.fingerprint}", index + 1)
        fingerprints.add(parsed.fingerprint)
        signatures.append(parsed)
        index += 1
    if not signatures:
        raise fail("missing signature line: the manifest must start with one", 1)
    if index == count:
        raise fail("unexpected end of file: expected the empty line after the signatures", index + 1)

    # The empty line, then the hash type.
    index += 1
    if index == count:
        raise fail(f"unexpected end of file: expected the hash type line {HASH_TYPE!r}", index + 1)
    if lines[index] != HASH_TYPE:
        if not lines[index]:
            reason = "more than one empty line"
        elif " " in lines[index]:
            reason = f"expected the hash type line {HASH_TYPE!r}"
        else:
            reason = f"unsupported hash type {lines[index]!r} (only {HASH_TYPE!r} is)"
        raise fail(reason, index + 1)

    # File lines: "<hex> <path>", strictly increasing by the UTF-8 bytes of the path.
    body = lines[index + 1 :]
    hashes = _read_file_lines(body)
    if hashes is None:
        hashes = _read_file_lines_carefully(body, index + 2, fail)

    return tuple(signatures), hashes


def _decode_text(data: bytes, fail) -> str:
    """Check the byte-level rules (UTF-8, no BOM, no control character but the line ends, no
    backslash, final newline) and return the text."""
    if not data:
        raise fail("empty file: expected a signature line", 1)
    if data.startswith(_BOM):
        raise fail("byte order mark at the start of the file", 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail("not valid UTF-8", data.count(b"\n", 0, exc.start) + 1) from None
    # Backslashes and control characters are valid nowhere in a manifest: one pass finds them.
    bad = data.translate(None, _ALLOWED_BYTES)
    if bad:
        offset = data.find(bad[:1])
        raise fail(
            _BAD_BYTE_NAMES.get(bad[0], f"control character {bad[:1]!r}") + " not allowed",
            data.count(b"\n", 0, offset) + 1,
        )
    if b"\xc2" in data:  # U+0080..U+009F (C1 controls) are encoded as C2 80..C2 9F
        offsets = [offset for offset in map(text.find, _C1_CONTROLS) if offset >= 0]
        if offsets:
            offset = min(offsets)
            raise fail(f"control character {text[offset]!r} not allowed", text.count("\n", 0, offset) + 1)
    if not data.endswith(b"\n"):
        raise fail("missing newline at the end of the file", data.count(b"\n") + 1)
    return text


def _read_signature_block(data: bytes, fail) -> tuple[list[Signature], int]:
    """The signature lines at the start of ``data`` and where the signed body starts.

    Line by line, with the byte-level rules of ``_decode_text`` applied to each line, so the
    errors are those ``parse`` gives; the rest of the file is not looked at.
    """
    if not data:
        raise fail("empty file: expected a signature line", 1)
    if data.startswith(_BOM):
        raise fail("byte order mark at the start of the file", 1)
    signatures: list[Signature] = []
    fingerprints = set()
    position = 0
    lineno = 1
    while True:
        end = data.find(b"\n", position)
        raw = data[position:] if end < 0 else data[position:end]
        if raw:
            line = _decode_line(raw, lineno, fail)
            parsed = _parse_signature_line(line)
            if isinstance(parsed, str):
                if lineno == 1 and line == HASH_TYPE:
                    parsed = "missing signature line: the manifest must start with one"
                raise fail(parsed, lineno)
            if parsed.fingerprint in fingerprints:
                raise fail(f"second signature line for key {parsed.fingerprint}", lineno)
            fingerprints.add(parsed.fingerprint)
            signatures.append(parsed)
        if end < 0:
            if raw:
                raise fail("missing newline at the end of the file", lineno)
            raise fail("unexpected end of file: expected the empty line after the signatures", lineno)
        if not raw:
            if not signatures:
                raise fail("missing signature line: the manifest must start with one", 1)
            return signatures, end + 1
        position = end + 1
        lineno += 1


def _check_hash_type(data: bytes, start: int, lineno: int, fail) -> None:
    """The line at ``start`` must be the hash type (what ``parse`` says when it is not)."""
    end = data.find(b"\n", start)
    line = data[start:end]
    if end < 0:
        raise fail(f"unexpected end of file: expected the hash type line {HASH_TYPE!r}", lineno)
    if line != HASH_TYPE.encode("ascii"):
        text = _decode_line(line, lineno, fail)
        if not text:
            reason = "more than one empty line"
        elif " " in text:
            reason = f"expected the hash type line {HASH_TYPE!r}"
        else:
            reason = f"unsupported hash type {text!r} (only {HASH_TYPE!r} is)"
        raise fail(reason, lineno)


def _decode_line(raw: bytes, lineno: int, fail) -> str:
    """One line's text, under the byte-level rules of ``_decode_text``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise fail("not valid UTF-8", lineno) from None
    bad = raw.translate(None, _ALLOWED_BYTES)
    if bad:
        raise fail(_BAD_BYTE_NAMES.get(bad[0], f"control character {bad[:1]!r}") + " not allowed", lineno)
    for char in _C1_CONTROLS:
        if char in text:
            raise fail(f"control character {char!r} not allowed", lineno)
    return text


def _read_file_lines(lines: list[str]) -> dict[str, str] | None:
    """The file lines as path -> digest, when a few whole-list checks prove them valid; else None.

    The fast path: a handful of C-speed passes over all lines instead of many small checks per
    line. It only ever proves validity (``_decode_text`` has already excluded backslashes and
    control characters); when in doubt it returns None and the careful loop decides.
    """
    hashes = {}
    for line in lines:
        digest, space, path = line.partition(" ")
        if len(digest) != 64 or not space:
            return None
        hashes[path] = digest
    if len(hashes) != len(lines):  # duplicate paths
        return None
    paths = list(hashes)
    if paths != sorted(paths):  # code point order, which is the order of the UTF-8 bytes
        return None
    digests = "".join(hashes.values())
    if not digests.isascii() or digests.encode("ascii").translate(None, _HEX_BYTES):
        return None
    # Every segment of every path sits between two "/" here: "//" finds empty segments (and
    # empty or absolute paths), "/./" and "/../" the dot segments; ":" might be a drive letter.
    joined = "/" + "/".join(paths) + "/"
    if "//" in joined or "/./" in joined or "/../" in joined or ":" in joined:
        return None
    return hashes


def _read_file_lines_carefully(lines: list[str], first_lineno: int, fail) -> dict[str, str]:
    """The file lines as path -> digest, checked line by line to name the first bad one."""
    hashes: dict[str, str] = {}
    previous = None
    for lineno, line in enumerate(lines, first_lineno):
        if len(line) < 65 or line[64] != " ":
            raise fail("expected '<64 lowercase hex digits> <path>'", lineno)
        digest = line[:64]
        if not _is_hex_digest(digest):
            raise fail("hash is not 64 lowercase hex digits", lineno)
        path = line[65:]
        problem = _path_problem(path)
        if problem is not None:
            raise fail(f"{problem}: {path!r}", lineno)
        if previous is not None and path <= previous:
            if path == previous:
                raise fail(f"duplicate path {path!r}", lineno)
            raise fail(f"paths not sorted by their UTF-8 bytes: {path!r} after {previous!r}", lineno)
        previous = path
        hashes[path] = digest
    return hashes


def unlisted_and_missing(
    listed: Iterable[str], present: Iterable[str], exempt: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(present files no manifest lists, listed files that are not present), each sorted.

    The "every entry listed, none missing" check of a sealed root, one rule for all its users
    (a zipapp's ``__main__`` at start-up, ``signedimp run``, the offline audit). ``exempt``:
    present files no manifest is expected to list (the manifests themselves, a wheel's RECORD).
    """
    listed = set(listed)
    present = set(present)
    unlisted = sorted(present.difference(listed, exempt))
    missing = sorted(listed.difference(present))
    return unlisted, missing
