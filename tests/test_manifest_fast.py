"""The manifest's whole-file fast path may only ever prove validity (issue 13).

``Manifest.parse`` first tries ``_parse_fast`` (a few C-speed passes over the whole file) and
only when that proves nothing runs the line-by-line parse, which names the bad line. A too-lax
fast path would accept a malformed manifest silently, so every rule gets a hostile manifest
here, built large (3,000 lines, the bad one in the middle, where bulk checks could miss it),
checked for the exact error, through ``parse`` and through ``parse_trusted`` with the manifest
properly signed (the runtime's path: a valid signature must not make a bad line acceptable).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signedimp import manifest as manifest_module
from signedimp import roots as roots_module
from signedimp.entries import DirectoryEntry
from signedimp.errors import IntegrityCheckFailed, ManifestError
from signedimp.keys import key_ring
from signedimp.manifest import MANIFEST_NAME, Manifest, Signature
from signedimp.roots import ManifestRoot
from signedimp.tools._signing_keys import PrivateKey

from .test_manifest import manifests, mutations

KEY = PrivateKey.from_ed25519_seed(bytes(range(32)))
H = hashlib.sha256(b"hostile").hexdigest()
COUNT = 3000
MIDDLE = COUNT // 2
FIRST_FILE_LINE = 4  # signature line, empty line, "sha256", then the file lines


def digest(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


# Valid lines around a gap in the middle: "m/..." sorts between "a/..." and "z/...", so a
# hostile line put there is in order unless it means not to be.
BEFORE = [f"{digest(i)} a/pkg_{i:05d}/module.py" for i in range(MIDDLE)]
AFTER = [f"{digest(i)} z/pkg_{i:05d}/module.py" for i in range(MIDDLE, COUNT)]
BAD_LINE = FIRST_FILE_LINE + MIDDLE


def signed_file(file_lines: list[bytes], *, final_newline: bool = True) -> bytes:
    """A manifest whose signature line is a real Ed25519 signature over these file lines."""
    body = b"sha256\n" + b"\n".join(file_lines) + (b"\n" if final_newline else b"")
    signature = Signature(KEY.fingerprint, KEY.sign(body))
    return signature.line().encode("ascii") + b"\n\n" + body


def with_middle(*middle: str | bytes) -> bytes:
    encoded = [line.encode("utf-8") if isinstance(line, str) else line for line in middle]
    return signed_file([*(line.encode() for line in BEFORE), *encoded, *(line.encode() for line in AFTER)])


EXPECTED_FORMAT = "expected '<64 lowercase hex digits> <path>'"
NOT_HEX = "hash is not 64 lowercase hex digits"

# (id, the line put in the middle, the exact reason the parse gives for it)
HOSTILE_LINES = [
    ("dot segment", f"{H} m/./b.py", "'.' segment in path: 'm/./b.py'"),
    ("leading dot segment", f"{H} ./m.py", "'.' segment in path: './m.py'"),
    ("trailing dot segment", f"{H} m/.", "'.' segment in path: 'm/.'"),
    ("dot path", f"{H} .", "'.' segment in path: '.'"),
    ("dot-dot path", f"{H} ..", "'..' segment in path: '..'"),
    ("dot-dot segment", f"{H} m/../b.py", "'..' segment in path: 'm/../b.py'"),
    ("leading dot-dot", f"{H} ../m.py", "'..' segment in path: '../m.py'"),
    ("trailing dot-dot", f"{H} m/..", "'..' segment in path: 'm/..'"),
    ("empty segment", f"{H} m//b.py", "empty segment in path: 'm//b.py'"),
    ("trailing slash", f"{H} m/", "empty segment in path: 'm/'"),
    ("absolute path", f"{H} /m.py", "absolute path: '/m.py'"),
    ("empty path", f"{H} ", "empty path: ''"),
    ("drive letter", f"{H} m:/x.py", "drive letter in path: 'm:/x.py'"),
    ("drive-relative path", f"{H} m:x.py", "drive letter in path: 'm:x.py'"),
    ("backslash", f"{H} m\\b.py", "backslash not allowed"),
    ("uppercase hex", f"{H.upper()} m.py", NOT_HEX),
    ("one uppercase digit", f"{H[:-1]}{H[-1].upper() if H[-1] > '9' else 'A'} m.py", NOT_HEX),
    ("63-digit digest", f"{H[:63]} m.py", EXPECTED_FORMAT),
    ("65-digit digest", f"{H}0 m.py", EXPECTED_FORMAT),
    # bytes.fromhex skips whitespace between digit pairs: "ab cd..." would pass it.
    ("space inside the digest", f"{H[:10]} {H[11:]} m.py", NOT_HEX),
    ("space at the start of the digest", f" {H[1:]} m.py", NOT_HEX),
    ("non-hex letter", f"g{H[1:]} m.py", NOT_HEX),
    ("non-ASCII digit", f"\u0660{H[1:]} m.py", NOT_HEX),
    ("fullwidth hex letter", f"\uff41{H[1:]} m.py", NOT_HEX),
    ("no space after the digest", f"{H}m.py", EXPECTED_FORMAT),
    ("digest only", H, EXPECTED_FORMAT),
    ("empty line", "", EXPECTED_FORMAT),
    ("tab as separator", f"{H}\tm.py", "tab not allowed"),
    ("tab in path", f"{H} m\t.py", "tab not allowed"),
    ("CR line end", f"{H} m.py\r", "carriage return (CR) not allowed"),
    ("NUL in path", f"{H} m\x00.py", "NUL not allowed"),
    ("escape in path", f"{H} m\x1b.py", "control character b'\\x1b' not allowed"),
    ("DEL in path", f"{H} m\x7f.py", "control character b'\\x7f' not allowed"),
    ("C1 control in path", f"{H} m\x85.py", "control character '\\x85' not allowed"),
    ("non-UTF-8", H.encode() + b" m\xff.py", "not valid UTF-8"),
    ("UTF-8-encoded surrogate", H.encode() + b" m\xed\xa0\x80.py", "not valid UTF-8"),
    ("overlong UTF-8", H.encode() + b" m\xc0\xaf.py", "not valid UTF-8"),
]


def _check_rejected(data: bytes, line: int, reason: str) -> None:
    assert manifest_module._parse_fast(data) is None
    with pytest.raises(ManifestError) as info:
        Manifest.parse(data, source="/site/signedimp-manifest.txt")
    assert (info.value.line, info.value.reason) == (line, reason)
    assert str(info.value) == f"/site/signedimp-manifest.txt, line {line}: {reason}"
    # The runtime's path: the signature is valid, and the bad line still rejects the manifest.
    with pytest.raises(ManifestError) as info:
        Manifest.parse_trusted(data, [KEY.public_key])
    assert (info.value.line, info.value.reason) == (line, reason)


@pytest.mark.parametrize(
    "middle, reason", [case[1:] for case in HOSTILE_LINES], ids=[case[0] for case in HOSTILE_LINES]
)
def test_hostile_line_in_a_large_manifest_is_rejected_exactly(middle: str | bytes, reason: str) -> None:
    _check_rejected(with_middle(middle), BAD_LINE, reason)


def test_the_large_manifest_takes_the_fast_path() -> None:
    """The hostile cases above differ from this by one line, and this one is proved valid."""
    data = with_middle(f"{H} m/b.py")
    fast = manifest_module._parse_fast(data)
    assert fast is not None
    assert fast == manifest_module._parse_line_by_line(data, None)
    assert len(fast[1]) == COUNT + 1
    manifest, key, _ = Manifest.parse_trusted(data, [KEY.public_key])
    assert manifest is not None and key == KEY.public_key
    assert manifest.lookup("m/b.py") == H
    assert manifest.serialise() == data


def test_unsorted_lines_are_rejected() -> None:
    data = with_middle(f"{H} m/b.py", f"{H} m/a.py")
    _check_rejected(data, BAD_LINE + 1, "paths not sorted by their UTF-8 bytes: 'm/a.py' after 'm/b.py'")


def test_sorted_by_code_point_of_utf16_but_not_utf8_is_rejected() -> None:
    # U+FF61 < U+1F600 in UTF-8 (and code points), but not in UTF-16 code units.
    data = with_middle(f"{H} m/\U0001f600", f"{H} m/\uff61")
    _check_rejected(
        data, BAD_LINE + 1, "paths not sorted by their UTF-8 bytes: 'm/\uff61' after 'm/\U0001f600'"
    )


def test_duplicate_paths_are_rejected() -> None:
    _check_rejected(with_middle(f"{H} m.py", f"{H} m.py"), BAD_LINE + 1, "duplicate path 'm.py'")
    other = hashlib.sha256(b"other").hexdigest()
    _check_rejected(with_middle(f"{H} m.py", f"{other} m.py"), BAD_LINE + 1, "duplicate path 'm.py'")


def test_a_spaced_path_does_not_hide_a_line_without_a_space() -> None:
    """Two spaces in one line and none in the next: one space per line on average."""
    data = with_middle(f"{H} m/a {H}", H)
    _check_rejected(data, BAD_LINE + 1, EXPECTED_FORMAT)


def test_a_short_and_a_long_digest_do_not_add_up() -> None:
    """63 and 65 hex digits are 128 in all, as two good digests: each must be 64."""
    data = with_middle(f"{H[:63]} m/a.py", f"{H}0 m/b.py")
    _check_rejected(data, BAD_LINE, EXPECTED_FORMAT)


def test_extra_spaces_cannot_shift_the_last_digest() -> None:
    """ "<30 hex> 1x <33 chars> 1x": split at spaces, the line gives two digest and two path
    tokens; its path twice makes one dict entry, and 30 + 33 characters with the separator
    are one digest's 64. Lengths, order and counts alone would add up."""
    lines = [f"{digest(i)} 0/pkg_{i:05d}.py".encode() for i in range(COUNT)]
    last = f"{H[:30]} 1x {'p' * 33} 1x"
    data = signed_file([*lines, last.encode()])
    _check_rejected(data, FIRST_FILE_LINE + COUNT, EXPECTED_FORMAT)


def test_trailing_line_without_newline_is_rejected() -> None:
    lines = [line.encode() for line in BEFORE + AFTER] + [f"{H} zz.py".encode()]
    data = signed_file(lines, final_newline=False)
    _check_rejected(data, FIRST_FILE_LINE + COUNT, "missing newline at the end of the file")


def test_trailing_garbage_after_the_last_newline_is_rejected() -> None:
    # Bytes after the last line end are no line: the skeleton alone would not see them.
    data = with_middle(f"{H} m.py") + b"zz"
    with pytest.raises(ManifestError) as info:
        Manifest.parse(data)
    assert (info.value.line, info.value.reason) == (
        FIRST_FILE_LINE + COUNT + 1,
        "missing newline at the end of the file",
    )
    assert manifest_module._parse_fast(data) is None


@pytest.mark.parametrize(
    "head, line, reason",
    [
        (b"\n", 1, "missing signature line: the manifest must start with one"),  # an empty first line
        (b"sha256\n\n", 1, "missing signature line: the manifest must start with one"),
        (b"\xef\xbb\xbf", 1, "byte order mark at the start of the file"),
    ],
)
def test_bad_heads_are_rejected(head: bytes, line: int, reason: str) -> None:
    data = head + with_middle(f"{H} m.py")
    assert manifest_module._parse_fast(data) is None
    with pytest.raises(ManifestError) as info:
        Manifest.parse(data)
    assert (info.value.line, info.value.reason) == (line, reason)


def test_second_signature_line_for_one_key_is_rejected() -> None:
    data = with_middle(f"{H} m.py")
    first = data[: data.index(b"\n") + 1]
    twice = first + first + data[len(first) :]
    assert manifest_module._parse_fast(twice) is None
    with pytest.raises(ManifestError) as info:
        Manifest.parse(twice)
    assert (info.value.line, info.value.reason) == (2, f"second signature line for key {KEY.fingerprint}")


def test_unusual_but_valid_paths_still_parse() -> None:
    """What the fast path leaves to the line-by-line parse is accepted there, identically."""
    for middle in (
        f"{H} m/a b.py",
        f"{H} m/.hidden",
        f"{H} m/b:c",
        f"{H} m/\u00e9t\u00e9.py",
        f"{H} m/\u00a0",
    ):
        data = with_middle(middle)
        manifest, _, _ = Manifest.parse_trusted(data, [KEY.public_key])
        assert manifest is not None
        assert manifest.lookup(middle[65:]) == H
        assert manifest.serialise() == data


def test_empty_file_list_takes_the_fast_path() -> None:
    data = signed_file([])[:-1]  # "...sha256\n": no file line at all
    assert data.endswith(b"\n\nsha256\n")
    assert manifest_module._parse_fast(data) == manifest_module._parse_line_by_line(data, None)
    assert len(Manifest.parse(data)) == 0


# -- the fast path against the line-by-line parse, on generated input ------------------------------

FP = "ab" * 32
SIG = "AAAA"
SAMPLE_LINES = [
    f"{FP} {SIG}",
    f"{'cd' * 32} AAAA",
    "",
    "sha256",
    f"{H} a.py",
    f"{H} a.py ",
    f"{H} b/c.py",
    f"{H} b c",
    f"{H} b/./c",
    f"{H} b//c",
    f"{H} /b",
    f"{H} C:b",
    f"{H} b:c",
    f"{H} .b",
    f"{H} z",
    f"{H}",
    f"{H} ",
    f"{H[:10]} {H[11:]} x",
    f"{H.upper()} y",
    f"{H[:63]} zz",
    f"{H} \u00e9",
    f"{H} \x85",
    f"{H} \ufeff",
    "garbage",
]


def _both(data: bytes):
    fast = manifest_module._parse_fast(data)
    try:
        careful = manifest_module._parse_line_by_line(data, None)
    except ManifestError:
        assert fast is None, data
    else:
        assert fast is None or fast == careful, data


@given(st.lists(st.sampled_from(SAMPLE_LINES), max_size=10), st.booleans())
@settings(max_examples=1000, deadline=None)
def test_fast_path_agrees_with_the_line_by_line_parse(picked: list[str], final_newline: bool) -> None:
    data = "".join(line + "\n" for line in picked).encode("utf-8")
    _both(data if final_newline else data[:-1])


@given(
    st.lists(st.sampled_from(SAMPLE_LINES[4:]), max_size=8),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=2)), max_size=3),
)
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_on_mutated_manifests(body: list[str], edits) -> None:
    data = bytearray(f"{FP} {SIG}\n\nsha256\n".encode() + "".join(line + "\n" for line in body).encode())
    for position, chunk in edits:
        position %= len(data) + 1
        data[position : position + len(chunk)] = chunk
    _both(bytes(data))


@given(manifests, mutations)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_on_generated_manifests(m: Manifest, edits) -> None:
    data = m.serialise()
    _both(data)
    mutated = bytearray(data)
    for kind, position, chunk in edits:
        position %= len(mutated) + 1
        if kind == "replace":
            mutated[position : position + len(chunk)] = chunk
        elif kind == "insert":
            mutated[position:position] = chunk
        else:
            del mutated[position : position + len(chunk)]
    _both(bytes(mutated))


# -- roots: a lone manifest's dict is used as it is; merging never changes it ------------------------


def _write_signed(folder: Path, hashes: dict[str, str]) -> None:
    manifest = Manifest(hashes)
    manifest = manifest.with_signature(Signature(KEY.fingerprint, KEY.sign(manifest.signed_bytes())))
    folder.mkdir(parents=True)
    (folder / MANIFEST_NAME).write_bytes(manifest.serialise())


def test_merging_dist_info_manifests_leaves_the_first_unchanged(tmp_path: Path) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    _write_signed(tmp_path / "a-1.dist-info", {"a/__init__.py": H, "shared.py": H})
    _write_signed(tmp_path / "b-1.dist-info", {"b/__init__.py": other, "shared.py": other})
    root = ManifestRoot(DirectoryEntry(str(tmp_path)), key_ring([KEY.public_key]))
    assert root.expected_digest("a/__init__.py") == H
    assert root.expected_digest("b/__init__.py") == other
    with pytest.raises(IntegrityCheckFailed, match="different SHA-256 digests"):
        root.expected_digest("shared.py")
    first, second = root.manifests
    assert dict(first.hashes) == {"a/__init__.py": H, "shared.py": H}
    assert dict(second.hashes) == {"b/__init__.py": other, "shared.py": other}


def test_roots_imports_hashlib_only_where_it_hashes() -> None:
    """``import signedimp`` should not load OpenSSL; the first file check may."""
    tree = ast.parse(Path(roots_module.__file__).read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name for alias in node.names)
    assert "hashlib" not in top


def test_byte_tables_are_what_their_comments_say() -> None:
    """The module's tables are built with C calls (no generator at import); each is the set of
    characters or bytes its rule names, spelled out here one by one."""
    m = manifest_module
    assert m._CONTROL_CHARS == frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))
    assert m._C1_CONTROLS == tuple(chr(c) for c in range(0x80, 0xA0))
    allowed = b"\n" + bytes(c for c in range(0x20, 0x100) if c not in (0x5C, 0x7F))
    assert m._ALLOWED_BYTES == allowed
    assert m._BAD_TO_BACKSLASH == bytes(c if c in allowed else 0x5C for c in range(256))
