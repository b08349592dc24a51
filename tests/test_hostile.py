"""Hostile input fails cleanly and cheaply (issue 8, points 7-10).

Zip bombs, giant and unsigned manifests, corrupt and unsupported members, truncated archives,
special files, deep folders and crafted names: every one is refused with a reason, within the
limits of ``signedimp.limits``, as an IntegrityCheckError at import time and with exit status
1 from ``signedimp verify`` and ``signedimp sign``. Children that could exhaust memory run under
an address-space limit (RLIMIT_AS), so the old behaviour shows as MemoryError, not as a
machine that swaps.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from signedimp.errors import ManifestError, SignatureMismatch, UnsafeInputError, ZipFormatError
from signedimp.limits import MAX_MANIFEST_SIZE, MAX_MEMBER_SIZE, MAX_TREE_DEPTH
from signedimp.manifest import MANIFEST_NAME, Manifest, Signature
from signedimp.tools import generate_key, sign_directory, sign_zipfile, verify_path
from signedimp.zipdir import PREFIX_NAME

from .helpers import clean_env

GiB = 1 << 30
# The child's address space: enough for Python and the verifier, far too little for a bomb.
MEMORY_LIMIT = 768 << 20


# -- crafting archives byte by byte ----------------------------------------------------------


class Member:
    """One member to write: its stored bytes and what the headers claim about it."""

    def __init__(
        self,
        name: bytes | str,
        content: bytes = b"",
        *,
        method: int = 0,
        raw: bytes | None = None,
        size: int | None = None,
        crc: int | None = None,
        extra: bytes = b"",
        flags: int = 0,
    ) -> None:
        self.name = name.encode("utf-8") if isinstance(name, str) else name
        if raw is None:
            if method == 8:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
                raw = compressor.compress(content) + compressor.flush()
            elif method == 14:
                import lzma

                body = lzma.compress(content, lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
                props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})
                raw = struct.pack("<BBH", 9, 4, len(props)) + props + body
            else:
                raw = content
        self.raw = raw
        self.method = method
        self.size = len(content) if size is None else size
        self.crc = zlib.crc32(content) if crc is None else crc
        self.extra = extra
        self.flags = flags | (0x800 if not self.name.isascii() else 0)


def craft_zip(
    path: Path, members: list[Member], *, prefix: bytes = b"", trailer: bytes = b"", count: int | None = None
) -> Path:
    """Write a zip by hand: exactly the headers asked for, even inconsistent ones."""
    out = bytearray(prefix)
    central = bytearray()
    for m in members:
        offset = len(out) - len(prefix)
        out += (
            struct.pack(
                "<4s5H3I2H",
                b"PK\x03\x04",
                20,
                m.flags,
                m.method,
                0,
                0x21,
                m.crc,
                len(m.raw),
                m.size,
                len(m.name),
                len(m.extra),
            )
            + m.name
            + m.extra
        )
        out += m.raw
        central += (
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                20,
                m.flags,
                m.method,
                0,
                0x21,
                m.crc,
                len(m.raw),
                m.size,
                len(m.name),
                len(m.extra),
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + m.name
            + m.extra
        )
    start = len(out) - len(prefix)
    entries = len(members) if count is None else count
    out += (
        central
        + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, entries, entries, len(central), start, 0)
        + trailer
    )
    path.write_bytes(bytes(out))
    return path


def signed_manifest(key, hashes: dict[str, str]) -> bytes:
    manifest = Manifest(hashes)
    signature = Signature(key.fingerprint, key.sign(manifest.signed_bytes()))
    return manifest.with_signature(signature).serialise()


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def deflated_zeros(size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), and its CRC-32, built
    without compressing ``size`` bytes: after a full flush, each further MiB of zeros compresses
    to the same bytes."""
    chunk = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = size >> 20
    stream = first + unit * (count - 1) + compressor.flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return stream, crc


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def pub(key, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "trusted.pub.pem"
    path.write_bytes(key.public_pem())
    return path


@pytest.fixture(scope="module")
def bomb() -> tuple[bytes, int]:
    return deflated_zeros(GiB)


# -- running the verifier and the command line in a child -----------------------------------


CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import signedimp
from signedimp import SignedImportManager, load_public_key
key = load_public_key(open(sys.argv[1], "rb").read())
sys.path[:0] = json.loads(sys.argv[2])
results = []
with SignedImportManager([key]):
    for action, target in json.loads(sys.argv[3]):
        try:
            if action == "import":
                module = __import__(target, fromlist=["_"])
                value = getattr(module, "VALUE", None)
            elif action == "data":
                import pkgutil
                package, _, resource_name = target.partition(":")
                value = len(pkgutil.get_data(package, resource_name))
            elif action == "truncate":
                path, _, size = target.rpartition(":")
                with open(path, "r+b") as stream:
                    stream.truncate(int(size))
                value = None
            results.append({{"ok": True, "value": value}})
        except BaseException as exc:
            results.append({{"ok": False, "type": type(exc).__name__, "message": str(exc),
                             "module": getattr(exc, "module", None),
                             "file": getattr(exc, "file", None)}})
print(json.dumps(results))
"""


def run_child(pub: Path, paths: list, actions: list) -> list[dict]:
    code = CHILD.format(limit=MEMORY_LIMIT)
    result = subprocess.run(
        [sys.executable, "-c", code, str(pub), json.dumps([str(p) for p in paths]), json.dumps(actions)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_refused(result: dict, kind: str, module: str, file: str | Path, *reasons: str) -> None:
    assert not result["ok"], result
    assert result["type"] == kind, result
    assert result["module"] == module, result
    assert result["file"] == str(file), result
    for reason in reasons:
        assert reason in result["message"], result


def cli(*args, limit: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """``signedimp ARGS`` in a child; under the address-space limit when ``limit``."""
    prefix = (
        f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        if limit
        else ""
    )
    code = prefix + "import sys\nfrom signedimp.tools.cli import main\nsys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=timeout,
    )


def assert_refused_cli(result: subprocess.CompletedProcess, *reasons: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "internal error" not in output, output
    for reason in reasons:
        assert reason in output, output


# -- 7. zip bombs ------------------------------------------------------------------------------


def test_bomb_member_declared_large_is_refused_before_inflating(tmp_path, key, pub, bomb):
    stream, crc = bomb
    assert len(stream) < (2 << 20)
    members = [
        Member("pkg/__init__.py", b"VALUE = 'pkg'\n"),
        Member("pkg/bomb.bin", method=8, raw=stream, size=GiB, crc=crc),
    ]
    manifest = signed_manifest(key, {"pkg/__init__.py": sha(b"VALUE = 'pkg'\n"), "pkg/bomb.bin": "0" * 64})
    archive = craft_zip(tmp_path / "bomb.zip", [*members, Member(MANIFEST_NAME, manifest)])
    result = run_child(pub, [archive], [["import", "pkg"], ["data", "pkg:bomb.bin"]])
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg",
        archive / "pkg" / "bomb.bin",
        f"member 'pkg/bomb.bin' is {GiB} bytes, over the limit of {MAX_MEMBER_SIZE} bytes",
    )


def test_bomb_member_declared_small_stops_at_its_declared_size(tmp_path, key, pub, bomb):
    stream, crc = bomb
    members = [
        Member("pkg/__init__.py", b"VALUE = 'pkg'\n"),
        Member("pkg/bomb.bin", method=8, raw=stream, size=1000, crc=crc),
    ]
    manifest = signed_manifest(
        key, {"pkg/__init__.py": sha(b"VALUE = 'pkg'\n"), "pkg/bomb.bin": sha(bytes(1000))}
    )
    archive = craft_zip(tmp_path / "bomb.zip", [*members, Member(MANIFEST_NAME, manifest)])
    result = run_child(pub, [archive], [["import", "pkg"], ["data", "pkg:bomb.bin"]])
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg",
        archive / "pkg" / "bomb.bin",
        "member 'pkg/bomb.bin' inflates to more than its declared size of 1000 bytes",
    )


def test_bomb_manifest_is_refused(tmp_path, key, pub, bomb):
    stream, crc = bomb
    archive = craft_zip(
        tmp_path / "bomb.zip",
        [Member("mod.py", b"VALUE = 1\n"), Member(MANIFEST_NAME, method=8, raw=stream, size=GiB, crc=crc)],
    )
    result = run_child(pub, [archive], [["import", "mod"]])
    assert_refused(
        result[0],
        "IntegrityCheckFailed",
        "mod",
        archive / "mod.py",
        f"manifest {archive / MANIFEST_NAME} cannot be read",
        f"is {GiB} bytes, over the limit of {MAX_MANIFEST_SIZE} bytes",
    )
    # Declared small, inflating to a gibibyte: stopped at the declared size.
    archive = craft_zip(
        tmp_path / "bomb2.zip",
        [Member("mod.py", b"VALUE = 1\n"), Member(MANIFEST_NAME, method=8, raw=stream, size=4096, crc=crc)],
    )
    result = run_child(pub, [archive], [["import", "mod"]])
    assert_refused(
        result[0],
        "IntegrityCheckFailed",
        "mod",
        archive / "mod.py",
        "inflates to more than its declared size of 4096 bytes",
    )


@pytest.mark.parametrize("name", ["pkg/bomb.bin", MANIFEST_NAME])
def test_verify_and_sign_refuse_bombs_within_the_memory_limit(tmp_path, key, pub, bomb, name):
    stream, crc = bomb
    members = [Member("pkg/__init__.py", b""), Member(name, method=8, raw=stream, size=GiB, crc=crc)]
    if name != MANIFEST_NAME:  # listed, so that verify reads it
        manifest = signed_manifest(key, {"pkg/__init__.py": sha(b""), name: "0" * 64})
        members.append(Member(MANIFEST_NAME, manifest))
    archive = craft_zip(tmp_path / "bomb.zip", members)
    limit = MAX_MANIFEST_SIZE if name == MANIFEST_NAME else MAX_MEMBER_SIZE
    reason = f"member {name!r} is {GiB} bytes, over the limit of {limit} bytes"
    assert_refused_cli(cli("verify", archive, "--key", pub, limit=True), reason)
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(key.to_pem())
    before = archive.read_bytes()
    assert_refused_cli(cli("sign", archive, "--key", keyfile, limit=True), reason)
    assert archive.read_bytes() == before


def test_verify_of_a_bomb_declared_small_stops_at_the_declared_size(tmp_path, key, pub, bomb):
    stream, crc = bomb
    archive = craft_zip(
        tmp_path / "bomb.zip",
        [
            Member("a.bin", method=8, raw=stream, size=1000, crc=crc),
            Member(MANIFEST_NAME, signed_manifest(key, {"a.bin": sha(bytes(1000))})),
        ],
    )
    result = cli("verify", archive, "--key", pub, limit=True)
    assert_refused_cli(
        result,
        f"{archive}: modified: a.bin (unreadable: {archive}: member "
        "'a.bin' inflates to more than its declared size of 1000 bytes)",
    )


# -- 8. giant manifests ----------------------------------------------------------------------


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        stream.truncate(size)
    return path


def test_giant_sparse_manifest_beside_a_signed_root(tmp_path, key, pub):
    root = tmp_path / "site"
    (root / "mod.py").parent.mkdir(parents=True)
    (root / "mod.py").write_bytes(b"VALUE = 'signed'\n")
    good = root / "good-1.0.dist-info" / MANIFEST_NAME
    good.parent.mkdir()
    good.write_bytes(signed_manifest(key, {"mod.py": sha(b"VALUE = 'signed'\n")}))
    giant = sparse(root / "evil-1.0.dist-info" / MANIFEST_NAME, 16 * GiB)
    result = run_child(pub, [root], [["import", "mod"], ["import", "other"]])
    assert result[0] == {"ok": True, "value": "signed"}
    # Not a MemoryError: the giant manifest is rejected, and said so for what nothing lists.
    assert result[1]["type"] in ("ModuleNotFoundError", "IntegrityCheckFailed"), result
    assert "MemoryError" not in json.dumps(result)
    assert giant.stat().st_blocks == 0  # still sparse: nothing was written or read into it


def test_giant_sparse_root_manifest_is_refused_with_the_reason(tmp_path, pub):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mod.py").write_bytes(b"VALUE = 1\n")
    sparse(root / MANIFEST_NAME, 16 * GiB)
    result = run_child(pub, [root], [["import", "mod"]])
    assert_refused(
        result[0],
        "IntegrityCheckFailed",
        "mod",
        root / "mod.py",
        f"manifest {root / MANIFEST_NAME} cannot be read: {root / MANIFEST_NAME}: "
        f"{16 * GiB} bytes, over the limit of {MAX_MANIFEST_SIZE} bytes for a file",
    )


def test_verify_refuses_a_giant_manifest(tmp_path, pub):
    root = tmp_path / "site"
    root.mkdir()
    (root / "mod.py").write_bytes(b"VALUE = 1\n")
    sparse(root / MANIFEST_NAME, 16 * GiB)
    result = cli("verify", root, "--key", pub, limit=True)
    assert_refused_cli(result, f"{16 * GiB} bytes, over the limit of {MAX_MANIFEST_SIZE} bytes")


def test_unsigned_manifest_costs_no_parse(key):
    other = generate_key()
    good = signed_manifest(other, {"a.py": "0" * 64})
    # Hash lines that a full parse would refuse (unsorted, a bad path): never looked at,
    # because no signature line is by a trusted key.
    body = good + b"not a hash line\n" + b"0" * 64 + b" ../escape\n"
    manifest, signer, fingerprints = Manifest.parse_trusted(body, [key.public_key])
    assert (manifest, signer, fingerprints) == (None, None, (other.fingerprint,))
    with pytest.raises(ManifestError, match="line 5: expected '<64 lowercase hex digits> <path>'"):
        Manifest.parse(body)


def test_trusted_signature_is_checked_before_the_hash_lines_are_parsed(key):
    good = signed_manifest(key, {"a.py": "0" * 64})
    forged = good + b"not a hash line\n"
    with pytest.raises(SignatureMismatch, match="does not verify"):
        Manifest.parse_trusted(forged, [key.public_key])
    manifest, signer, fingerprints = Manifest.parse_trusted(good, [key.public_key])
    assert manifest == Manifest.parse(good) and signer == key.public_key
    assert manifest.signed_bytes() == Manifest.parse(good).signed_bytes()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "line 1: empty file"),
        (b"\xef\xbb\xbfx", "line 1: byte order mark"),
        (b"\nsha256\n", "line 1: missing signature line"),
        (b"sha256\n", "line 1: missing signature line"),
        (b"abc def\n", "line 1: key fingerprint is not 64 lowercase hex digits"),
        (b"{fp} AAAA\r\n", "line 1: carriage return (CR) not allowed"),
        (b"{fp} AAAA\n", "line 2: unexpected end of file: expected the empty line"),
        (b"{fp} AAAA\n{fp} AAAA\n\n", "line 2: second signature line for key"),
        (b"{fp} AAAA", "line 1: missing newline at the end of the file"),
    ],
)
def test_signature_block_errors_match_parse(key, data, message):
    data = data.replace(b"{fp}", key.fingerprint.encode())
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Manifest.parse_trusted(data, [key.public_key])


# -- 9. the right exception at import time ---------------------------------------------------


def signed_zip(
    tmp_path: Path,
    key,
    files: dict[str, bytes],
    *,
    method: int = 8,
    overrides: dict[str, Member] | None = None,
    name: str = "app.zip",
) -> Path:
    overrides = overrides or {}
    members = [overrides.get(n) or Member(n, data, method=method) for n, data in files.items()]
    manifest = signed_manifest(key, {n: sha(data) for n, data in files.items()})
    return craft_zip(tmp_path / name, [*members, Member(MANIFEST_NAME, manifest)])


FILES = {"pkg/__init__.py": b"VALUE = 'pkg'\n", "pkg/mod.py": b"VALUE = 'mod'\n" * 50}


def test_corrupt_deflate_stream_is_an_integrity_error(tmp_path, key, pub):
    broken = Member("pkg/mod.py", FILES["pkg/mod.py"], method=8)
    broken.raw = b"\xff" * len(broken.raw)  # an invalid block type
    archive = signed_zip(tmp_path, key, FILES, overrides={"pkg/mod.py": broken})
    result = run_child(pub, [archive], [["import", "pkg"], ["import", "pkg.mod"]])
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg.mod",
        archive / "pkg" / "mod.py",
        "cannot be read:",
        "member 'pkg/mod.py' is corrupt: bad deflate data",
    )


def test_lzma_member_is_an_integrity_error(tmp_path, key, pub):
    pytest.importorskip("lzma")
    lzma_member = Member("pkg/mod.py", FILES["pkg/mod.py"], method=14)
    archive = signed_zip(tmp_path, key, FILES, overrides={"pkg/mod.py": lzma_member})
    result = run_child(pub, [archive], [["import", "pkg"], ["import", "pkg.mod"]])
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg.mod",
        archive / "pkg" / "mod.py",
        "member 'pkg/mod.py' uses compression method 14 (LZMA); only stored and "
        "deflated members can be verified",
    )


def test_archive_truncated_while_in_use_is_an_integrity_error(tmp_path, key, pub):
    archive = signed_zip(tmp_path, key, FILES)
    data = archive.read_bytes()
    cut = data.index(b"PK\x03\x04", 1) + 40  # inside the second member (pkg/mod.py)
    result = run_child(
        pub, [archive], [["import", "pkg"], ["truncate", f"{archive}:{cut}"], ["import", "pkg.mod"]]
    )
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[2],
        "IntegrityCheckFailed",
        "pkg.mod",
        archive / "pkg" / "mod.py",
        "cannot be read:",
        "member 'pkg/mod.py' is truncated",
    )


def test_directory_file_replaced_by_a_fifo_is_an_integrity_error(tmp_path, key, pub):
    root = tmp_path / "site"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_bytes(b"VALUE = 'pkg'\n")
    (root / "pkg" / "data.txt").write_bytes(b"data")
    sign_directory(root, key)
    (root / "pkg" / "data.txt").unlink()
    os.mkfifo(root / "pkg" / "data.txt")  # a read would block forever
    result = run_child(pub, [root], [["import", "pkg"], ["data", "pkg:data.txt"]])
    assert result[0] == {"ok": True, "value": "pkg"}
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg",
        root / "pkg" / "data.txt",
        "a FIFO (named pipe), not a regular file",
    )


def test_truncated_signed_zip_names_the_archive_and_the_reason(tmp_path, key, pub):
    archive = signed_zip(tmp_path, key, FILES)
    archive.write_bytes(archive.read_bytes()[:-30])
    result = run_child(pub, [archive], [["import", "pkg"], ["import", "colorsys"]])
    assert_refused(
        result[0],
        "IntegrityCheckFailed",
        "pkg",
        archive,
        f"not found, and the archive on the path could not be read: {archive}: ",
    )
    assert result[1]["ok"], result  # what is found elsewhere on the path still imports


# -- 10. verify and sign on hostile input ----------------------------------------------------


@pytest.fixture()
def keyfile(tmp_path, key) -> Path:
    path = tmp_path / "key.pem"
    path.write_bytes(key.to_pem())
    return path


def test_invalid_utf8_name_under_the_utf8_flag(tmp_path, key, pub, keyfile):
    archive = craft_zip(tmp_path / "bad.zip", [Member(b"bad\xff.py", b"x = 1\n", flags=0x800)])
    reason = f"{archive}: name of central directory entry 1 is not valid UTF-8"
    assert_refused_cli(cli("verify", archive, "--key", pub), reason)
    assert_refused_cli(cli("sign", archive, "--key", keyfile), reason)


def test_lzma_members_are_refused_by_verify_and_sign(tmp_path, key, pub, keyfile):
    pytest.importorskip("lzma")
    content = b"x = 1\n"
    archive = craft_zip(
        tmp_path / "lzma.zip",
        [
            Member("a.py", content, method=14),
            Member(MANIFEST_NAME, signed_manifest(key, {"a.py": sha(content)})),
        ],
    )
    reason = "member 'a.py' uses compression method 14 (LZMA); only stored and deflated"
    assert_refused_cli(cli("verify", archive, "--key", pub), reason)
    assert_refused_cli(cli("sign", archive, "--key", keyfile), reason)


def make_deep(root: Path, depth: int) -> Path:
    """``root/d/d/.../d``, ``depth`` folders below ``root`` (made one by one: no recursion)."""
    folder = str(root)
    os.mkdir(folder)
    for _ in range(depth):
        folder += "/d"
        os.mkdir(folder)
    return Path(folder)


def remove_deep(root: Path) -> None:
    """Remove a tree made by ``make_deep`` (shutil.rmtree recurses, and would fail on it)."""
    folders, pending = [], [str(root)]
    while pending:
        folder = pending.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


@pytest.fixture()
def deep_root(tmp_path):
    root = tmp_path / "deep"
    yield root
    if root.exists():
        remove_deep(root)


def test_deep_folders_are_refused_not_a_recursion_error(tmp_path, deep_root, key, pub, keyfile):
    root = deep_root
    deep = make_deep(root, 1100)
    (deep / "x.py").write_bytes(b"")
    (root / "ok.py").write_bytes(b"")
    reason = f"nested more than {MAX_TREE_DEPTH} folders deep (the limit)"
    assert_refused_cli(cli("sign", root, "--key", keyfile), reason)
    assert not (root / MANIFEST_NAME).exists()
    assert_refused_cli(cli("verify", root, "--key", pub), reason)
    # At the limit, a tree is walked (iteratively) and signed.
    fine = tmp_path / "fine"
    at_limit = make_deep(fine, MAX_TREE_DEPTH)
    (at_limit / "x.py").write_bytes(b"")
    result = cli("sign", fine, "--key", keyfile)
    assert result.returncode == 0, result.stderr
    assert verify_path(fine, key.public_key).ok


def special_files(root: Path) -> dict[str, str]:
    """A FIFO, a socket and (as root) a device node below ``root``: name -> what it is."""
    os.mkfifo(root / "fifo")
    made = {"fifo": "a FIFO (named pipe)"}
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    server.close()
    made["sock"] = "a socket"
    try:
        os.mknod(root / "null", 0o600 | 0o020000, os.makedev(1, 3))
        made["null"] = "a device"
    except (PermissionError, AttributeError):
        pass
    return made


def test_special_files_are_reported_without_blocking(tmp_path, key, pub, keyfile):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_bytes(b"")
    made = special_files(root)
    reasons = [f"{root / name}: {kind}, not a regular file or directory" for name, kind in made.items()]
    assert_refused_cli(cli("sign", root, "--key", keyfile, timeout=60), reasons[0])
    (root / "fifo").unlink()
    os.rename(root / "sock", tmp_path / "sock")
    if (root / "null").exists():
        os.rename(root / "null", tmp_path / "null")
    sign_directory(root, key)
    os.mkfifo(root / "fifo")
    os.rename(tmp_path / "sock", root / "sock")
    if (tmp_path / "null").exists():
        os.rename(tmp_path / "null", root / "null")
    assert_refused_cli(cli("verify", root, "--key", pub, timeout=60), *reasons)
    # A FIFO where an archive is expected, on the command line: refused, never opened.
    fifo = tmp_path / "app.zip"
    os.mkfifo(fifo)
    assert_refused_cli(
        cli("verify", fifo, "--key", pub, timeout=60), f"{fifo}: not a regular file or directory"
    )
    assert_refused_cli(
        cli("sign", fifo, "--key", keyfile, timeout=60),
        f"{fifo}: not a regular file, directory, wheel or zip archive",
    )


def test_symlinks_inside_the_tree_are_followed_outside_refused(tmp_path, key, pub, keyfile):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_bytes(b"A = 1\n")
    (root / "link.py").symlink_to("a.py")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    result = cli("sign", root, "--key", keyfile)
    assert result.returncode == 0, result.stderr
    assert Manifest.parse((root / MANIFEST_NAME).read_bytes()).lookup("link.py") == sha(b"A = 1\n")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    assert_refused_cli(cli("sign", root, "--key", keyfile), "symlink points outside the tree")
    assert_refused_cli(cli("verify", root, "--key", pub), "symlink points outside the tree")


def test_names_are_printed_escaped(tmp_path, key, pub):
    forged = f"x\n{tmp_path / 'app.zip'}: OK (9 files verified, signed by {key.fingerprint})"
    ansi = "\x1b[2K\x1b[1Ghidden.py"
    archive = craft_zip(
        tmp_path / "app.zip",
        [
            Member("a.py", b""),
            Member(forged, b""),
            Member(ansi, b""),
            Member(MANIFEST_NAME, signed_manifest(key, {"a.py": sha(b"")})),
        ],
    )
    result = cli("verify", archive, "--key", pub)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert not [line for line in lines if ": OK (" in line and not line.startswith(f"{archive}: unlisted")]
    assert f"{archive}: unlisted: x\\n{tmp_path / 'app.zip'}: OK (9 files" in result.stdout
    assert f"{archive}: unlisted: \\x1b[2K\\x1b[1Ghidden.py" in result.stdout
    assert "\x1b" not in result.stdout
    assert lines[-1] == f"{archive}: FAILED (1 ok, 2 unlisted)"
    # JSON output keeps the names exactly (JSON escapes them itself).
    document = json.loads(cli("verify", archive, "--key", pub, "--json").stdout)
    assert {f["path"] for f in document["results"][0]["files"]} == {"a.py", forged, ansi}


def test_escaped_directory_names(tmp_path, key, pub, keyfile):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_bytes(b"")
    sign_directory(root, key)
    (root / "evil\nOK\x1b[0m.py").write_bytes(b"")
    os.close(os.open(os.fsencode(root) + b"/bad\xff.py", os.O_CREAT | os.O_WRONLY))
    result = cli("verify", root, "--key", pub)
    assert result.returncode == 1
    assert (
        f"{root}: unsafe: {root}/evil\\nOK\\x1b[0m.py: cannot be listed in a manifest: "
        "control character in path: 'evil\\nOK\\x1b[0m.py'"
    ) in result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("OK")]
    assert "bad\\xff.py: file name is not valid UTF-8" in result.stdout
    assert "\x1b" not in result.stdout


# -- verify and the runtime agree on every archive -------------------------------------------


def unicode_path_extra(raw_name: bytes, unicode_name: str) -> bytes:
    data = struct.pack("<BI", 1, zlib.crc32(raw_name)) + unicode_name.encode("utf-8")
    return struct.pack("<2H", 0x7075, len(data)) + data


def disagreement(case: str, tmp_path: Path, key) -> tuple[Path, str, str]:
    """A crafted archive zipfile reads differently from the runtime: (archive, the module to
    import, the runtime's reason)."""
    if case == "unicode_path_extra":
        # zipfile (3.12+) takes names from the Info-ZIP Unicode Path field; the runtime and
        # the signer take the stored names. Swapped contents pass zipfile's view.
        a, b = b"VALUE = 'a'\n", b"VALUE = 'b'\n"
        manifest = signed_manifest(key, {"a.py": sha(a), "b.py": sha(b)})
        archive = craft_zip(
            tmp_path / f"{case}.zip",
            [
                Member("a.py", b, extra=unicode_path_extra(b"a.py", "b.py")),
                Member("b.py", a, extra=unicode_path_extra(b"b.py", "a.py")),
                Member(MANIFEST_NAME, manifest),
            ],
        )
        return archive, "a", "its SHA-256 does not match the signed manifest"
    archive = signed_zip(tmp_path, key, {"a.py": b"VALUE = 'a'\n"}, method=0, name=f"{case}.zip")
    data = archive.read_bytes()
    if case == "bytes_after_end_record":
        archive.write_bytes(data + b"trailing bytes")
        return archive, "a", "archive comment does not end at the end of the file"
    if case == "oversized_entry_count":
        end = data.rindex(b"PK\x05\x06")
        fields = list(struct.unpack_from("<4s4H2IH", data, end))
        fields[3] = fields[4] = fields[4] + 1
        archive.write_bytes(data[:end] + struct.pack("<4s4H2IH", *fields) + data[end + 22 :])
        return archive, "a", "3 entries cannot fit in a central directory"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["bytes_after_end_record", "oversized_entry_count", "unicode_path_extra"])
def test_verify_and_runtime_agree(tmp_path, key, pub, case):
    archive, module, reason = disagreement(case, tmp_path, key)
    result = run_child(pub, [archive], [["import", module]])
    assert not result[0]["ok"] and result[0]["type"] == "IntegrityCheckFailed", result
    assert reason in result[0]["message"], result
    report = verify_path(archive, key.public_key)
    assert not report.ok
    assert reason in json.dumps(report.to_dict()) or case == "unicode_path_extra"
    if case == "unicode_path_extra":
        assert [(f.path, f.status) for f in report.files] == [("a.py", "modified"), ("b.py", "modified")]
    assert_refused_cli(cli("verify", archive, "--key", pub))


def test_signer_reads_the_stored_names_too(tmp_path, key):
    archive = craft_zip(
        tmp_path / "x.zip", [Member("a.py", b"A = 1\n", extra=unicode_path_extra(b"a.py", "z.py"))]
    )
    manifest = sign_zipfile(archive, key)
    assert list(manifest) == [PREFIX_NAME, "a.py"]
    assert verify_path(archive, key.public_key).ok


def test_limits_are_documented():
    root = Path(__file__).parent.parent
    text = (root / "docs" / "threat-model.md").read_text()
    for value in ("512 MiB", "64 MiB", "1,000,000", "256 MiB", f"{MAX_TREE_DEPTH}"):
        assert value in text, value
    readme = (root / "README.md").read_text()
    assert "Exit status: 0 all good; 1 refused" in readme
    # Issue 8.12: -I does not stop .pth files and sitecustomize in site-packages; -S does.
    for doc in (readme, text):
        assert "`python -I` does not stop" in doc or "`python -I` alone" in doc
        assert "python -I -S" in doc
    assert "run with `python -I` or `-S`" not in readme


def test_unsafe_input_is_a_value_error():
    # Callers that caught ValueError (zip and tree errors) keep working.
    assert issubclass(UnsafeInputError, ValueError) and issubclass(ZipFormatError, UnsafeInputError)


# -- the bounded member reader on its own -----------------------------------------------------


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "member, reason",
    [
        (Member("m", b"abc", crc=1), "is corrupt: bad CRC-32"),
        (Member("m", b"abc", size=4), "is stored with two different sizes"),
        (Member("m", b"abcdef" * 10, method=8, size=59), "inflates to more than its declared size of 59"),
        (Member("m", b"abcdef" * 10, method=8, size=61), "is corrupt: 60 bytes, not the declared 61"),
        (
            Member("m", method=8, raw=_deflate(b"x" * 100)[:-3], size=100, crc=zlib.crc32(b"x" * 100)),
            "is corrupt: its deflate stream is truncated",
        ),
        (
            Member("m", method=8, raw=_deflate(b"x" * 100) + b"junk", size=100, crc=zlib.crc32(b"x" * 100)),
            "is corrupt: data after the end of its deflate stream",
        ),
        (Member("m", b"abc", method=12), "uses compression method 12 (bzip2)"),
        (Member("m", b"abc", flags=1), "is encrypted"),
    ],
)
def test_member_reader_refuses(tmp_path, member, reason):
    from signedimp.bounded_read import read_member
    from signedimp.zipdir import read_zip_directory

    archive = craft_zip(tmp_path / "x.zip", [member])
    (entry,) = read_zip_directory(archive)
    with pytest.raises(
        ZipFormatError, match=f"^{archive}: member 'm' " + reason.replace("(", r"\(").replace(")", r"\)")
    ):
        read_member(str(archive), entry)


def test_member_reader_reads_large_members_in_steps(tmp_path):
    from signedimp.bounded_read import member_chunks
    from signedimp.limits import READ_CHUNK
    from signedimp.zipdir import read_zip_directory

    data = os.urandom(READ_CHUNK) * 3 + b"tail"
    archive = craft_zip(tmp_path / "x.zip", [Member("big", data, method=8), Member("raw", data)])
    for entry in read_zip_directory(archive):
        with open(archive, "rb") as stream:
            chunks = list(member_chunks(stream, entry, str(archive)))
        assert b"".join(chunks) == data
        assert max(map(len, chunks)) <= READ_CHUNK and len(chunks) >= 4


def test_local_header_must_repeat_the_central_name(tmp_path, key, pub):
    archive = signed_zip(tmp_path, key, FILES, method=0)
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"pkg/mod.py", b"pkg/MOD.py", 1))  # the local header's copy
    result = run_child(pub, [archive], [["import", "pkg"], ["import", "pkg.mod"]])
    assert_refused(
        result[1],
        "IntegrityCheckFailed",
        "pkg.mod",
        archive / "pkg" / "mod.py",
        "member 'pkg/mod.py' is corrupt: the local header names another file",
    )


def test_giant_sparse_file_in_a_folder_is_refused_by_sign_and_verify(tmp_path, key, pub, keyfile):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_bytes(b"")
    sign_directory(root, key)
    giant = sparse(root / "giant.bin", 16 * GiB)
    reason = f"{giant}: {16 * GiB} bytes, over the limit of {MAX_MEMBER_SIZE} bytes for a file"
    assert_refused_cli(cli("sign", root, "--key", keyfile, limit=True), reason)
    # Listed (by a manifest that claims it), it is reported unreadable, never read.
    (root / MANIFEST_NAME).write_bytes(signed_manifest(key, {"a.py": sha(b""), "giant.bin": "0" * 64}))
    assert_refused_cli(
        cli("verify", root, "--key", pub, limit=True), f"{root}: modified: giant.bin (unreadable: {reason})"
    )
