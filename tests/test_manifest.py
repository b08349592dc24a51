"""The manifest format: strict parsing, exact round trips, lookups and signature verification."""

from __future__ import annotations

import ast
import base64
import hashlib
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signedimp import manifest as manifest_module
from signedimp.errors import KeyFormatError, ManifestError, SignatureMismatch
from signedimp.manifest import HASH_TYPE, MANIFEST_NAME, Manifest, Signature, check_path

FP1 = "ab" * 32
FP2 = "cd" * 32
SIG = base64.b64encode(bytes(range(64))).decode()
H1 = hashlib.sha256(b"1").hexdigest()
H2 = hashlib.sha256(b"2").hexdigest()
H3 = hashlib.sha256(b"3").hexdigest()


def lines(*text: str) -> bytes:
    """A manifest from its lines, each given without its "\\n"."""
    return "".join(line + "\n" for line in text).encode("utf-8")


# The lines of a valid manifest; the bad inputs below are small edits of it.
GOOD = [
    f"{FP1} {SIG}",  # 1
    "",  # 2
    "sha256",  # 3
    f"{H1} a.py",  # 4
    f"{H2} pkg/b.py",  # 5
    f"{H3} pkg/c d.py",  # 6
]


def edit(line: int, text: str) -> bytes:
    changed = list(GOOD)
    changed[line - 1] = text
    return lines(*changed)


MALFORMED = [
    # (id, data, line to blame)
    ("bad hex", edit(5, "zz" + H2[2:] + " pkg/b.py"), 5),
    ("uppercase hex", edit(4, H1.upper() + " a.py"), 4),
    ("short hex", edit(4, H1[:-1] + " a.py"), 4),
    ("hash without path", edit(4, H1), 4),
    ("hash and empty path", edit(4, H1 + " "), 4),
    ("unsorted paths", lines(*GOOD[:3], GOOD[4], GOOD[3], GOOD[5]), 5),
    ("sorted as UTF-16, not UTF-8", lines(*GOOD[:3], f"{H1} \U0001f600", f"{H2} \uff61"), 5),
    ("duplicate paths", edit(5, f"{H2} a.py"), 5),
    ("duplicate paths, same hash", edit(5, f"{H1} a.py"), 5),
    ("dot-dot segment", edit(5, f"{H2} pkg/../b.py"), 5),
    ("dot-dot path", edit(4, f"{H1} .."), 4),
    ("dot segment", edit(5, f"{H2} pkg/./b.py"), 5),
    ("absolute path", edit(4, f"{H1} /a.py"), 4),
    ("drive letter", edit(4, f"{H1} C:/a.py"), 4),
    ("drive-relative path", edit(4, f"{H1} c:a.py"), 4),
    ("backslash", edit(5, f"{H2} pkg\\b.py"), 5),
    ("empty segment", edit(5, f"{H2} pkg//b.py"), 5),
    ("trailing slash", edit(5, f"{H2} pkg/"), 5),
    ("CR line end", edit(3, "sha256\r"), 3),
    ("CRLF everywhere", b"\r\n".join(lines(*GOOD).split(b"\n")), 1),
    ("tab in path", edit(6, f"{H3} pkg/c\td.py"), 6),
    ("tab as separator", edit(4, f"{H1}\ta.py"), 4),
    ("NUL in path", edit(5, f"{H2} pkg/b\x00.py"), 5),
    ("control character in path", edit(5, f"{H2} pkg/b\x1b.py"), 5),
    ("DEL in path", edit(5, f"{H2} pkg/b\x7f.py"), 5),
    ("C1 control in path", edit(6, f"{H3} pkg/c\x85d.py"), 6),
    ("non-UTF-8", lines(*GOOD[:4]) + H2.encode() + b" pkg/b\xff.py\n", 5),
    ("UTF-8-encoded surrogate", lines(*GOOD[:5]) + H3.encode() + b" pkg/\xed\xa0\x80.py\n", 6),
    ("BOM", b"\xef\xbb\xbf" + lines(*GOOD), 1),
    ("missing empty line", lines(GOOD[0], *GOOD[2:]), 2),
    ("two empty lines", lines(*GOOD[:2], "", *GOOD[2:]), 3),
    ("empty line among the files", lines(*GOOD[:4], "", *GOOD[4:]), 5),
    ("empty line at the end", lines(*GOOD, ""), 7),
    ("unknown hash type sha1", edit(3, "sha1"), 3),
    ("hash type in capitals", edit(3, "SHA256"), 3),
    ("hash type with trailing space", edit(3, "sha256 "), 3),
    ("missing hash type", lines(*GOOD[:2], *GOOD[3:]), 3),
    ("bad base64 alphabet", edit(1, f"{FP1} {SIG[:-4]}!!!!"), 1),
    ("base64 without padding", edit(1, f"{FP1} {SIG.rstrip('=')}"), 1),
    ("base64 with whitespace", edit(1, f"{FP1} {SIG[:8]} {SIG[8:]}"), 1),
    ("urlsafe base64", edit(1, f"{FP1} " + base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode()), 1),
    ("non-canonical base64", edit(1, f"{FP1} AB=="), 1),
    ("padding in the middle", edit(1, f"{FP1} AA==AAAA"), 1),
    ("empty signature", edit(1, f"{FP1} "), 1),
    ("signature line without signature", edit(1, FP1), 1),
    ("uppercase fingerprint", edit(1, f"{FP1.upper()} {SIG}"), 1),
    ("short fingerprint", edit(1, f"{FP1[:-2]} {SIG}"), 1),
    ("missing signature line", lines(*GOOD[1:]), 1),
    ("no signature section at all", lines(*GOOD[2:]), 1),
    ("duplicate fingerprints", lines(GOOD[0], f"{FP2} {SIG}", f"{FP1} AAAA", *GOOD[1:]), 3),
    ("missing final newline", lines(*GOOD)[:-1], 6),
    ("trailing garbage line", lines(*GOOD, "garbage"), 7),
    ("trailing garbage without newline", lines(*GOOD) + b"garbage", 7),
    ("trailing NUL bytes", lines(*GOOD) + b"\x00\x00", 7),
    ("empty file", b"", 1),
    ("only a newline", b"\n", 1),
    ("only signatures", lines(GOOD[0]), 2),
    ("ends after the empty line", lines(*GOOD[:2]), 3),
]


@pytest.mark.parametrize("data, line", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_manifest_names_the_line(data: bytes, line: int) -> None:
    with pytest.raises(ManifestError) as info:
        Manifest.parse(data)
    assert info.value.line == line, info.value
    assert str(info.value).startswith(f"manifest, line {line}: ")
    assert info.value.reason

    with pytest.raises(ManifestError) as info:
        Manifest.parse(data, source="/x/signedimp-manifest.txt")
    assert info.value.source == "/x/signedimp-manifest.txt"
    assert str(info.value).startswith(f"/x/signedimp-manifest.txt, line {line}: ")


@pytest.mark.parametrize(
    "data, needle",
    [
        (edit(5, f"{H2} pkg/../b.py"), "'..'"),
        (edit(5, f"{H2} pkg/./b.py"), "'.'"),
        (edit(4, f"{H1} /a.py"), "absolute"),
        (edit(5, f"{H2} pkg\\b.py"), "backslash"),
        (edit(5, f"{H2} pkg//b.py"), "empty segment"),
        (edit(4, f"{H1} C:/a.py"), "drive letter"),
        (edit(3, "sha256\r"), "carriage return"),
        (edit(6, f"{H3} pkg/c\td.py"), "tab"),
        (edit(3, "sha1"), "unsupported hash type 'sha1'"),
        (edit(5, f"{H2} a.py"), "duplicate path"),
        (lines(*GOOD[:3], GOOD[4], GOOD[3]), "not sorted"),
        (b"\xef\xbb\xbf" + lines(*GOOD), "byte order mark"),
        (lines(*GOOD)[:-1], "newline at the end"),
        (lines(GOOD[0], *GOOD[2:]), "missing empty line"),
        (lines(*GOOD[:2], "", *GOOD[2:]), "more than one empty line"),
        (lines(GOOD[0], GOOD[0], *GOOD[1:]), "second signature line"),
        (lines(*GOOD[1:]), "missing signature line"),
        (edit(1, f"{FP1} AB=="), "base64"),
    ],
)
def test_reasons_are_specific(data: bytes, needle: str) -> None:
    with pytest.raises(ManifestError, match=None) as info:
        Manifest.parse(data)
    assert needle in info.value.reason


def test_good_manifest_parses() -> None:
    data = lines(*GOOD)
    m = Manifest.parse(data, source="here")
    assert m.signatures == (Signature(FP1, bytes(range(64))),)
    assert dict(m.hashes) == {"a.py": H1, "pkg/b.py": H2, "pkg/c d.py": H3}
    assert m.lookup("pkg/c d.py") == H3
    assert m.lookup("pkg/missing.py") is None
    assert m.lookup("pkg\\b.py") is None
    assert "a.py" in m and "b.py" not in m
    assert len(m) == 3
    assert list(m) == ["a.py", "pkg/b.py", "pkg/c d.py"]
    assert m.source == "here"
    assert m.serialise() == data
    assert m.signed_bytes() == data[data.index(b"\n\n") + 2 :]
    assert m.signed_bytes().startswith(b"sha256\n")


@pytest.mark.parametrize(
    "paths",
    [
        [],  # no file lines: the file ends with "sha256\n"
        ["a b/c d.py", "a b/c d.py "],  # spaces, also trailing
        ["...", ".a", "a..b", "a/.hidden/...x"],  # dots that are not "." or ".." segments
        ["a/b:c.py", "dir/C:/x"],  # colons that are not a leading drive letter
        ["1:", "Z", "\u00e9t\u00e9/\u00fc.py", "\u65e5\u672c/\u8a9e.py", "\U0001f600.py"],
        ["\ufeffbom-in-name", "\u00a0nbsp", "zero\u200bwidth"],  # not control characters
    ],
)
def test_valid_paths_round_trip(paths: list[str]) -> None:
    m = Manifest({p: H1 for p in paths}, [Signature(FP1, b"s"), Signature(FP2, b"t" * 70)])
    data = m.serialise()
    assert Manifest.parse(data) == m
    assert Manifest.parse(data).serialise() == data
    if not paths:
        assert data.endswith(b"\n\nsha256\n")
        assert len(Manifest.parse(data)) == 0


def test_sorted_by_utf8_bytes() -> None:
    paths = ["b", "a", "\u00e9", "Z", "a/b", "a b", "\uff61", "\U0001f600", "a-"]
    m = Manifest({p: H1 for p in paths}, [Signature(FP1, b"s")])
    expected = sorted(paths, key=lambda p: p.encode("utf-8"))
    assert list(m) == expected
    assert list(m.hashes) == expected
    assert list(Manifest.parse(m.serialise())) == expected


def test_serialise_layout() -> None:
    m = Manifest({"b.py": H2, "a.py": H1}, [Signature(FP1, b"\x00\x01"), Signature(FP2, b"x")])
    assert m.serialise() == (f"{FP1} AAE=\n{FP2} eA==\n\nsha256\n{H1} a.py\n{H2} b.py\n".encode("ascii"))
    assert m.signed_bytes() == f"sha256\n{H1} a.py\n{H2} b.py\n".encode("ascii")


def test_constants() -> None:
    assert MANIFEST_NAME == "signedimp-manifest.txt"
    assert HASH_TYPE == "sha256"


@pytest.mark.parametrize(
    "path",
    [
        "a.py",
        "a/b/c.py",
        "a b",
        " leading space",
        "trailing space ",
        "...",
        "a..b",
        ".hidden",
        "\u00e9.py",
        "x/C:/y",
        "ab:c",
        "1:/x",
        "\u00e9:x",
    ],
)
def test_check_path_accepts(path: str) -> None:
    check_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/a",
        "a/",
        "a//b",
        ".",
        "..",
        "./a",
        "a/.",
        "a/./b",
        "../a",
        "a/..",
        "a/../b",
        "a\\b",
        "\\a",
        "a\x00b",
        "a\nb",
        "a\rb",
        "a\tb",
        "a\x7fb",
        "a\x85b",
        "a\x9fb",
        "C:",
        "C:/a",
        "c:a",
        "Z:\\a",
        "a\ud800b",
        42,
        None,
        b"a.py",
    ],
)
def test_check_path_rejects(path) -> None:
    with pytest.raises(ValueError):
        check_path(path)


def test_constructor_validates() -> None:
    with pytest.raises(ManifestError, match="'..' segment"):
        Manifest({"../x.py": H1})
    with pytest.raises(ManifestError, match="lowercase hex"):
        Manifest({"x.py": H1.upper()})
    with pytest.raises(ManifestError, match="lowercase hex"):
        Manifest({"x.py": H1[:-1]})
    with pytest.raises(ManifestError):
        Manifest({"x.py": H1}, [Signature(FP1, b"a"), Signature(FP1, b"b")])
    with pytest.raises(ManifestError):
        Signature(FP1.upper(), b"a")
    with pytest.raises(ManifestError):
        Signature(FP1, b"")
    with pytest.raises(TypeError):
        Manifest({"x.py": H1}, [(FP1, b"a")])
    # An unsigned manifest can be built in memory (for signing), but not written out: the file
    # it would make is one that parse refuses.
    unsigned = Manifest([("x.py", H1)])
    assert unsigned.signatures == ()
    assert unsigned.signed_bytes() == f"sha256\n{H1} x.py\n".encode()
    with pytest.raises(ManifestError, match="unsigned manifest cannot be serialised"):
        unsigned.serialise()
    with pytest.raises(ManifestError, match="missing signature line"):
        Manifest.parse(b"\n" + unsigned.signed_bytes())


def test_immutable() -> None:
    m = Manifest({"x.py": H1}, [Signature(FP1, b"a")])
    with pytest.raises(TypeError):
        m.hashes["y.py"] = H2  # type: ignore[index]
    with pytest.raises(AttributeError):
        m.signatures[0].fingerprint = FP2  # type: ignore[misc]
    assert hash(m) == hash(Manifest({"x.py": H1}, [Signature(FP1, b"a")]))
    assert Signature(FP1, b"a") == Signature(FP1, bytearray(b"a"))
    assert len({Signature(FP1, b"a"), Signature(FP1, b"a")}) == 1


def test_with_signature_replaces_or_appends() -> None:
    m = Manifest({"x.py": H1}, [Signature(FP1, b"a")])
    added = m.with_signature(Signature(FP2, b"b"))
    assert added.signatures == (Signature(FP1, b"a"), Signature(FP2, b"b"))
    replaced = added.with_signature(Signature(FP1, b"c"))
    assert replaced.signatures == (Signature(FP1, b"c"), Signature(FP2, b"b"))
    assert replaced.signed_bytes() == m.signed_bytes()
    assert m.signatures == (Signature(FP1, b"a"),)  # the original is unchanged


def test_equality_ignores_source_only() -> None:
    data = lines(*GOOD)
    assert Manifest.parse(data, source="a") == Manifest.parse(data, source="b")
    assert Manifest.parse(data) != Manifest.parse(edit(4, f"{H2} a.py"))
    assert Manifest.parse(data) != Manifest.parse(edit(1, f"{FP2} {SIG}"))
    assert Manifest.parse(data) != "not a manifest"


def test_parse_accepts_bytes_like_and_text() -> None:
    """Bytes as they are; a manifest read as text (``Path.read_text()``) as its UTF-8 bytes,
    checked as strictly; anything else is a TypeError."""
    data = lines(*GOOD)
    assert Manifest.parse(bytearray(data)) == Manifest.parse(data)
    assert Manifest.parse(memoryview(data)) == Manifest.parse(data)
    assert Manifest.parse(data.decode()) == Manifest.parse(data)
    text = data.decode().replace("pkg/b.py\n", "pkg/b\u00e9.py\n")
    assert "pkg/b\u00e9.py" in Manifest.parse(text).hashes
    assert Manifest.parse(text) == Manifest.parse(text.encode())
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        Manifest.parse(data.decode() + "\udc80")
    with pytest.raises(ManifestError, match="line 4"):
        Manifest.parse(edit(4, f"{H1.upper()} a.py").decode())
    with pytest.raises(TypeError):
        Manifest.parse(12)  # type: ignore[arg-type]


def test_parse_10000_lines_round_trips() -> None:
    """A large manifest parses back to itself (its speed is measured in benchmarks/, not here)."""
    hashes = {
        f"pkg{i % 40}/sub dir/m\u00f3dulo_{i}.py": hashlib.sha256(b"%d" % i).hexdigest()
        for i in range(10_000)
    }
    data = Manifest(hashes, [Signature(FP1, bytes(64))]).serialise()
    parsed = Manifest.parse(data)
    assert len(parsed) == 10_000 and parsed.serialise() == data
    assert parsed.lookup("pkg7/sub dir/m\u00f3dulo_7.py") == hashes["pkg7/sub dir/m\u00f3dulo_7.py"]


# -- property tests -------------------------------------------------------------------------------

_SEGMENT_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters="/\\",
)
segments = st.text(_SEGMENT_CHARS, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
paths = (
    st.lists(segments, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda p: not (len(p) >= 2 and p[1] == ":" and p[0].isascii() and p[0].isalpha()))
)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
fingerprints = st.binary(min_size=32, max_size=32).map(bytes.hex)
signature_lists = st.dictionaries(
    fingerprints, st.binary(min_size=1, max_size=80), min_size=1, max_size=3
).map(lambda d: [Signature(fp, sig) for fp, sig in d.items()])
manifests = st.builds(Manifest, st.dictionaries(paths, digests, max_size=12), signature_lists)


@given(manifests)
@settings(max_examples=300, deadline=None)
def test_parse_inverts_serialise(m: Manifest) -> None:
    data = m.serialise()
    parsed = Manifest.parse(data)
    assert parsed == m
    assert parsed.serialise() == data
    assert list(parsed) == sorted(m, key=lambda p: p.encode("utf-8"))
    for path, digest in m.hashes.items():
        assert parsed.lookup(path) == digest


@given(paths)
@settings(max_examples=300, deadline=None)
def test_generated_paths_are_valid(path: str) -> None:
    check_path(path)


def _parse_or_error(data: bytes) -> Manifest | None:
    try:
        parsed = Manifest.parse(data)
    except ManifestError as exc:
        assert exc.line is not None and exc.line >= 1
        return None
    # Whatever parses is canonical: it serialises back to exactly the same bytes.
    assert parsed.serialise() == data
    return parsed


@given(st.binary(max_size=400))
@settings(max_examples=500, deadline=None)
def test_random_bytes_only_raise_manifest_error(data: bytes) -> None:
    _parse_or_error(data)


@given(
    st.lists(
        st.sampled_from(
            [
                f"{FP1} {SIG}",
                f"{FP2} AAAA",
                "",
                "sha256",
                "sha1",
                f"{H1} a.py",
                f"{H2} b/c.py",
                f"{H1} a.py",
                f"{H3} ../x",
                f"{H1} z",
                "garbage",
                f"{H2} \u00e9",
                f"{H3} b:c",
            ]
        ),
        max_size=8,
    ),
    st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_random_line_sequences(picked: list[str], final_newline: bool) -> None:
    data = lines(*picked)
    _parse_or_error(data if final_newline else data[:-1])


mutations = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete"]),
        st.integers(0, 10_000),
        st.binary(min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=4,
)


@given(manifests, mutations)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_manifests_only_raise_manifest_error(m: Manifest, edits) -> None:
    data = bytearray(m.serialise())
    for kind, position, chunk in edits:
        position %= len(data) + 1
        if kind == "replace":
            data[position : position + len(chunk)] = chunk
        elif kind == "insert":
            data[position:position] = chunk
        else:
            del data[position : position + len(chunk)]
    _parse_or_error(bytes(data))


@given(
    st.lists(
        st.one_of(
            st.tuples(digests, paths).map(" ".join),
            st.sampled_from(
                [
                    "",
                    " ",
                    H1,
                    H1 + " ",
                    H1.upper() + " x",
                    H1 + " a//b",
                    H1 + " C:x",
                    H1 + " x/./y",
                    H1 + " /x",
                    H1[:63] + " xx",
                ]
            ),
        ),
        max_size=8,
    )
)
@settings(max_examples=500, deadline=None)
def test_fast_path_never_accepts_what_the_careful_loop_rejects(body: list[str]) -> None:
    """The whole-list checks may only prove validity; the line-by-line loop has the last word."""
    fast = manifest_module._read_file_lines(body)

    def fail(reason, line):
        return ManifestError(reason, line=line)

    try:
        careful = manifest_module._read_file_lines_carefully(body, 4, fail)
    except ManifestError:
        assert fast is None
    else:
        assert fast is None or fast == careful
        assert list(careful) == sorted(careful, key=lambda p: p.encode("utf-8"))


# -- verification with real Ed25519 keys ---------------------------------------------------------


class DuckKey:
    """A verifying key as the runtime's keys look: ``.fingerprint`` and ``.verify``."""

    def __init__(self, private: ECC.EccKey) -> None:
        self.public = private.public_key()
        self.fingerprint = hashlib.sha256(self.public.export_key(format="DER")).hexdigest()

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            eddsa.new(self.public, "rfc8032").verify(message, signature)
        except ValueError:
            return False
        return True


@pytest.fixture(scope="module")
def private_keys() -> list[ECC.EccKey]:
    return [ECC.generate(curve="ed25519") for _ in range(3)]


def sign(private: ECC.EccKey, m: Manifest) -> Signature:
    signature = eddsa.new(private, "rfc8032").sign(m.signed_bytes())
    return Signature(DuckKey(private).fingerprint, signature)


def signed(keys: list[ECC.EccKey], hashes=None) -> Manifest:
    m = Manifest(hashes or {"pkg/__init__.py": H1, "pkg/mod.py": H2})
    for private in keys:
        m = m.with_signature(sign(private, m))
    return Manifest.parse(m.serialise(), source="/app/signedimp-manifest.txt")


def test_good_signature_verifies(private_keys) -> None:
    key = DuckKey(private_keys[0])
    m = signed([private_keys[0]])
    assert m.verify(key) is key
    assert m.verify([key]) is key
    assert m.verify(k for k in [key]) is key
    assert m.verify({key.fingerprint: key}) is key


def test_forged_signature_by_trusted_key_is_tampering(private_keys) -> None:
    key = DuckKey(private_keys[0])
    m = signed([private_keys[0]])
    other = sign(private_keys[1], m).signature  # a valid signature, by the wrong key
    forged = m.with_signature(Signature(key.fingerprint, other))
    forged = Manifest.parse(forged.serialise(), source="/app/signedimp-manifest.txt")
    with pytest.raises(SignatureMismatch) as info:
        forged.verify(key)
    assert info.value.fingerprint == key.fingerprint
    assert info.value.source == "/app/signedimp-manifest.txt"
    assert key.fingerprint in str(info.value)


def test_unknown_keys_only_gives_none(private_keys) -> None:
    m = signed([private_keys[0], private_keys[1]])
    assert m.verify(DuckKey(private_keys[2])) is None
    assert m.verify([]) is None
    assert m.verify({}) is None


def test_unknown_lines_are_ignored(private_keys) -> None:
    key = DuckKey(private_keys[1])
    m = signed([private_keys[1]])
    junk = Signature(DuckKey(private_keys[0]).fingerprint, b"not a signature at all")
    unknown_first = Manifest(m.hashes, [junk, *m.signatures])
    assert unknown_first.verify([key, DuckKey(private_keys[2])]) is key


def test_first_trusted_line_is_returned(private_keys) -> None:
    first, second = DuckKey(private_keys[0]), DuckKey(private_keys[1])
    m = signed([private_keys[0], private_keys[1]])
    assert m.verify([second, first]) is first
    assert m.verify([second]) is second


def test_one_bad_trusted_line_rejects_even_with_a_good_one(private_keys) -> None:
    first, second = DuckKey(private_keys[0]), DuckKey(private_keys[1])
    m = signed([private_keys[0]])
    m = m.with_signature(Signature(second.fingerprint, bytes(64)))
    assert m.verify(first) is first  # the bad line's key is not trusted
    with pytest.raises(SignatureMismatch) as info:
        m.verify([first, second])
    assert info.value.fingerprint == second.fingerprint


def test_edited_hash_line_breaks_the_signature(private_keys) -> None:
    key = DuckKey(private_keys[0])
    data = signed([private_keys[0]]).serialise()
    tampered = data.replace(H2.encode(), H3.encode())
    assert tampered != data
    m = Manifest.parse(tampered, source="/app/signedimp-manifest.txt")
    with pytest.raises(SignatureMismatch):
        m.verify(key)
    # An added file line is tampering too.
    extra_line = H3.encode() + b" pkg/z.py\n"
    added = Manifest.parse(data.replace(b"pkg/mod.py\n", b"pkg/mod.py\n" + extra_line))
    with pytest.raises(SignatureMismatch):
        added.verify(key)


def test_signature_covers_exactly_the_signed_bytes(private_keys) -> None:
    key = DuckKey(private_keys[0])
    m = signed([private_keys[0]])
    data = m.serialise()
    assert key.verify(data[data.index(b"\n\n") + 2 :], m.signatures[0].signature)


def test_verify_insists_on_true() -> None:
    class Sloppy:
        fingerprint = FP1

        def verify(self, message, signature):
            return 1  # truthy, but not True: treated as a failure

    m = Manifest({"a.py": H1}, [Signature(FP1, b"x")])
    with pytest.raises(SignatureMismatch):
        m.verify(Sloppy())


def test_verify_rejects_nonsense_keys() -> None:
    m = Manifest({"a.py": H1}, [Signature(FP1, b"x")])
    with pytest.raises(KeyFormatError):  # text is read as a key (keys.key_ring), and this is none
        m.verify("not a key")
    with pytest.raises(TypeError):
        m.verify([object()])


# -- the runtime's import rules ------------------------------------------------------------------


def test_imports_only_cheap_standard_library_modules() -> None:
    source = Path(manifest_module.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.parse(source).body:  # top level only: TYPE_CHECKING imports are skipped
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "binascii", ".errors", ".keys"}  # keys: key_ring, base64


def test_fast_path_keeps_line_boundaries() -> None:
    """One space per line on average is not enough: a line without a space is malformed."""
    assert manifest_module._read_file_lines([H1 + " p " + H1, "q"]) is None
    assert manifest_module._read_file_lines([H1 + " a", H1 + " b"]) == {"a": H1, "b": H1}
    assert manifest_module._read_file_lines([H1 + " a b", H1 + " c"]) == {"a b": H1, "c": H1}
