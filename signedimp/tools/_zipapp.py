"""Signed zipapps: build them (``signedimp zipapp``) and run them verified (``signedimp run``).

An archive built here is an ordinary zipapp (``python app.pyz`` works) whose generated
``__main__.py`` carries the verifier bootstrap and the pinned public keys, so every module the
app imports is checked before it runs. Builds are reproducible: entries sorted, fixed
timestamps (``SOURCE_DATE_EPOCH``, else 1980-01-01), fixed modes, and Ed25519 signatures are
deterministic, so the same inputs give the same bytes.

``run_zipapp`` is the launcher side: the key lives outside the archive, the whole archive is
audited first, and ``__main__.py`` is executed from the very bytes that were checked.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import types
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._bootstrap import BYTECODE_MEMBER, RUNTIME_FOLDER, get_bootstrap_code, public_keys, split_bootstrap
from ..errors import IntegrityCheckError, ManifestError, SignatureMismatch
from ..guard import mark_verified
from ..manifest import MANIFEST_NAME, Manifest, check_path

__all__ = ["APP_MAIN_MODULE", "ZipappError", "build_zipapp", "run_zipapp"]

#: The module name a source folder's own ``__main__.py`` is renamed to inside the archive: the
#: generated ``__main__.py`` runs it through the import hook (so it is verified) as ``__main__``.
APP_MAIN_MODULE = "_signedimp_app_main"
MAIN_NAME = "__main__.py"
FILE_MODE = 0o644
DIR_MODE = 0o755
ZIP_EPOCH_MIN = 315532800  # 1980-01-01 00:00:00 UTC: the earliest time a zip entry can carry
ZIP_EPOCH_MAX = 4354819198  # 2107-12-31 23:59:58 UTC: the latest
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
#: Read at every start of a --compile app: stored, inflating its ~200 kB cost about 1 ms.
STORED = frozenset({BYTECODE_MEMBER})
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ZipappError(ValueError):
    """A zipapp cannot be built as asked; the message says what to change."""


# ----------------------------------------------------------------------------- building


def build_zipapp(source: str | os.PathLike, output: str | os.PathLike, key: Any, *,
                 main: str | None = None, interpreter: str | None = None,
                 compile: bool = False, extra_keys: Sequence[Any] = ()) -> Manifest:
    """Build a signed, self-verifying zipapp at ``output`` from ``source``; return its manifest.

    ``source``: a plain folder (copied as is, like ``python -m zipapp``), a project folder (it has
    pyproject.toml / setup.py / setup.cfg), a ``.whl``, or a requirement string; the last three
    are installed with their dependencies by ``pip install --target`` into a staging folder.
    ``main``: ``pkg.mod:fn``; default: the folder's ``__main__.py`` or the one console script
    the installed distributions declare. ``interpreter``: shebang line (none when not given, as
    with ``python -m zipapp``). ``compile``: add bytecode for the building interpreter.
    ``extra_keys``: more keys to pin in ``__main__.py`` (public keys), or to co-sign with
    (private keys), e.g. for a key rotation.
    """
    if main is not None and not _ENTRY_POINT.match(main):
        raise ZipappError(f"invalid entry point {main!r}: expected pkg.module:function")
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="signedimp-zipapp-") as tmp:
        staging = Path(tmp, "app").resolve()
        entry = stage_source(str(source), staging, main, output)
        signers = [key, *(k for k in extra_keys if hasattr(k, "sign"))]
        pinned = [*signers, *(k for k in extra_keys if not hasattr(k, "sign"))]
        main_source, members = main_module_source(public_keys(pinned), entry, bytecode=compile)
        (staging / MAIN_NAME).write_text(main_source, encoding="utf-8")
        write_members(staging, members)
        if compile:  # __main__.py too: zipimport would otherwise compile it twice at every start
            compile_bytecode(staging, output.name)
        files, dirs = collect_entries(staging)
    manifest = sign_files(files, signers)
    files[MANIFEST_NAME] = manifest.serialise()
    write_archive(output, files, dirs, interpreter)
    return manifest


def classify_source(source: str) -> str:
    """``folder``, ``project``, ``wheel`` or ``requirement``: how ``source`` is staged."""
    path = Path(source)
    if path.is_dir():
        return "project" if any((path / name).is_file() for name in PROJECT_FILES) else "folder"
    if path.is_file():
        if path.suffix == ".whl":
            return "wheel"
        raise ZipappError(f"{source}: not a folder, a project or a wheel (.whl)")
    if source.endswith(".whl") or os.sep in source or (os.altsep and os.altsep in source):
        raise ZipappError(f"{source}: no such file or directory")
    return "requirement"


def stage_source(source: str, staging: Path, main: str | None, output: Path) -> str:
    """Fill ``staging`` from ``source``; return the entry: ``pkg.mod:fn`` or APP_MAIN_MODULE."""
    kind = classify_source(source)
    if kind == "folder":
        copy_folder(Path(source), staging, output)
    else:
        staging.mkdir(parents=True)
        pip_install(str(Path(source).resolve()) if kind != "requirement" else source, staging)
        shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: the archive has its own main
    remove_caches(staging)
    (staging / MANIFEST_NAME).unlink(missing_ok=True)  # a stale root manifest: replaced by ours
    if (staging / RUNTIME_FOLDER).exists():
        raise ZipappError(f"the source already has {RUNTIME_FOLDER}; it is reserved by signedimp")
    return choose_entry(staging, main, kind, distribution_name(source, kind))


def distribution_name(source: str, kind: str) -> str | None:
    """The normalised name of the distribution ``source`` installs (its scripts come first)."""
    name = None
    if kind == "wheel":
        name = Path(source).name.split("-", 1)[0]
    elif kind == "requirement":
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", source.strip())
        name = match.group(0) if match else None
    elif kind == "project":
        try:
            import tomllib  # Python 3.11+
        except ImportError:  # pragma: no cover - 3.10: fall back to every distribution's scripts
            return None
        pyproject = Path(source, "pyproject.toml")
        if pyproject.is_file():
            name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    return normalise_name(name) if name else None


def normalise_name(name: str) -> str:
    """Distribution names compare equal whatever their case and ``-``/``_``/``.`` spelling."""
    return re.sub(r"[-_.]+", "_", name).lower()


def copy_folder(source: Path, staging: Path, output: Path) -> None:
    """Copy a plain folder as ``python -m zipapp`` would, minus caches and the output itself."""
    target = output.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n == "__pycache__" or Path(folder, n).resolve() == target}

    shutil.copytree(source, staging, ignore=ignore)


def pip_install(spec: str, staging: Path) -> None:
    """``pip install --target`` with the building interpreter, as the zipapp docs recommend."""
    command = [
        sys.executable, "-m", "pip", "install", "--target", str(staging), "--no-compile",
        "--disable-pip-version-check", "--no-warn-script-location", "--no-input", "--quiet", spec,
    ]
    result = subprocess.run(command, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ZipappError(f"pip install of {spec!r} failed (exit status {result.returncode}); see pip's output above")


def remove_caches(staging: Path) -> None:
    """Drop ``__pycache__`` folders: bytecode nobody asked for (``--compile`` writes its own)."""
    for cache in sorted(staging.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)


def choose_entry(staging: Path, main: str | None, kind: str, primary: str | None = None) -> str:
    """The entry point: ``-m``, else the folder's ``__main__.py`` (renamed), else a console script."""
    own_main = staging / MAIN_NAME
    if own_main.exists():
        if main is not None:
            raise ZipappError(f"{MAIN_NAME} already in the source: cannot also use -m {main}")
        renamed = staging / f"{APP_MAIN_MODULE}.py"
        if renamed.exists():
            raise ZipappError(f"the source already has {renamed.name}; it is reserved by signedimp")
        own_main.rename(renamed)
        return APP_MAIN_MODULE
    if main is not None:
        return main
    scripts = console_scripts(staging, primary) if kind != "folder" else {}
    if not scripts and primary is not None:
        scripts = console_scripts(staging)
    targets = sorted(set(scripts.values()))
    if len(targets) == 1:
        return targets[0]
    if targets:
        listed = ", ".join(f"{name}={target}" for name, target in sorted(scripts.items()))
        raise ZipappError(f"several console scripts ({listed}): choose one with -m pkg.mod:fn")
    raise ZipappError("no entry point: pass -m pkg.mod:fn, or add a __main__.py to the source")


def console_scripts(staging: Path, distribution: str | None = None) -> dict[str, str]:
    """``name -> pkg.mod:fn`` for the console scripts of one installed distribution, or of all."""
    scripts: dict[str, str] = {}
    for path in sorted(staging.glob("*.dist-info/entry_points.txt")):
        if distribution and normalise_name(path.parent.name.split("-", 1)[0]) != distribution:
            continue
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text(encoding="utf-8"))
        if parser.has_section("console_scripts"):
            for name, value in parser.items("console_scripts"):
                target = value.split("[", 1)[0].replace(" ", "")
                if _ENTRY_POINT.match(target):
                    scripts[name] = target
    return scripts


def compile_bytecode(staging: Path, archive_name: str) -> None:
    """Compile every ``.py`` to a ``.pyc`` beside it, reproducibly, for the building interpreter.

    Beside the source (``compileall -b``) because that is the only place zipimport looks, so a
    plain ``python -m zipapp`` archive of the same files uses the same bytecode. Unchecked-hash
    pycs carry no timestamp (the manifest hash is their proof of freshness); a fixed hash seed
    and a fresh process make the bytes repeatable; file names in tracebacks read
    ``app.pyz/pkg/mod.py``.
    """
    command = [
        sys.executable, "-I", "-m", "compileall", "-q", "-b", "-r", "1000",
        "--invalidation-mode", "unchecked-hash", "-s", str(staging), "-p", archive_name, str(staging),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:  # a file that does not compile keeps its source only
        print(f"signedimp zipapp: some files did not compile:\n{result.stdout}", file=sys.stderr)


def write_members(staging: Path, members: dict[str, bytes]) -> None:
    """The runtime members that the generated ``__main__.py`` pins by SHA-256 (split_bootstrap)."""
    for name, data in members.items():
        path = staging / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)


def main_module_source(keys: list[Any], entry: str, *,
                       bytecode: bool = False) -> tuple[str, dict[str, bytes]]:
    """The generated ``__main__.py`` (bootstrap, eager check of the archive, then the app) and
    the runtime members it pins.

    Without bytecode ``__main__.py`` embeds ``get_bootstrap_code(keys)`` verbatim and there are
    no members. With bytecode (``--compile``) the runtime sits beside it, pinned by SHA-256
    literals, so that ``__main__.pyc``, which runpy has zipimport read twice, stays small: that
    halves the start-up cost a signed app adds (benchmarks/README.md).
    """
    if entry == APP_MAIN_MODULE:
        run = f"_signedimp_run_module({APP_MAIN_MODULE!r})"
    else:
        module, _, function = entry.partition(":")
        run = f"_signedimp_call({module!r}, {function!r})"
    if bytecode:
        bootstrap, members = split_bootstrap(keys, bytecode=True)
    else:
        bootstrap, members = get_bootstrap_code(keys), {}
    return _MAIN_TEMPLATE.format(bootstrap=bootstrap, manifest=MANIFEST_NAME, run=run), members


_MAIN_TEMPLATE = '''\
# Generated by `signedimp zipapp`: verify this archive, then run the app through the import hook.
# This file is listed and signed in {manifest} like every other entry.
{bootstrap}

def _signedimp_check_archive(manager, archive):
    """Fail fast: the manifest must be signed by a pinned key and vouch for every entry."""
    if not hasattr(manager, "root"):
        return  # another signedimp version runs this process; its hook still checks every import
    root = manager.root(archive)
    ran = "__main__.pyc" if __file__.endswith("c") else "__main__.py"  # what zipimport executed
    root.read_verified(ran, "__main__")  # corruption and partial tampering show up here
    names = getattr(root.entry, "archive", None)
    names = names.names if names is not None else ()
    unlisted = sorted(n for n in names if n != {manifest!r} and not root.is_listed(n))
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (" ..." if len(unlisted) > 5 else "")
        raise sys.modules["signedimp"].IntegrityCheckMissing(
            "%d entries are not listed in the signed manifest (added): %s" % (len(unlisted), shown),
            file=archive,
        )
    absent = sorted({{path for manifest in root.manifests for path in manifest.hashes}}.difference(names))
    if absent:
        shown = ", ".join(absent[:5]) + (" ..." if len(absent) > 5 else "")
        raise sys.modules["signedimp"].IntegrityCheckFailed(
            "%d entries listed in the signed manifest are missing (removed): %s" % (len(absent), shown),
            file=archive,
        )


def _signedimp_call(module, function):
    import importlib

    target = importlib.import_module(module)
    for attribute in function.split("."):
        target = getattr(target, attribute)
    sys.exit(target())


def _signedimp_run_module(name):
    import importlib.util

    spec = importlib.util.find_spec(name)
    code = spec.loader.get_code(name)
    main = type(sys)("__main__")
    main.__file__ = spec.origin
    main.__loader__ = spec.loader
    main.__spec__ = spec
    main.__builtins__ = __builtins__
    launcher = sys.modules["__main__"]  # keeps this module's globals alive while the app runs
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        del launcher


def _signedimp_main():
    errors = sys.modules["signedimp"].errors
    refusals = (ImportError, errors.ManifestError, errors.SignatureMismatch, errors.ZipFormatError)
    # The archive: zipimport's (running from __main__.pyc or .py) or, under `signedimp run`,
    # the folder part of __file__ (".../app.pyz/__main__.py").
    archive = getattr(__loader__, "archive", None) if "__loader__" in globals() else None
    archive = archive or __file__[: max(__file__.rfind("/"), __file__.rfind("\\\\"))]
    try:
        _signedimp_check_archive(_signedimp_manager, archive)
    except refusals as exc:
        sys.stderr.write("signedimp: refusing to run %s: %s\\n" % (archive, exc))
        sys.exit(1)
    try:
        {run}
    except errors.IntegrityCheckError as exc:
        message = str(exc)
        prefix = "" if message.startswith("signedimp") else "signedimp: "
        sys.stderr.write(prefix + message + "\\n")
        sys.exit(1)


import sys

_signedimp_main()
'''


def collect_entries(staging: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every file (name -> bytes) and folder (``name/``) under ``staging``, with checked names."""
    files: dict[str, bytes] = {}
    dirs: list[str] = []
    for path in sorted(staging.rglob("*")):
        name = path.relative_to(staging).as_posix()
        try:
            check_path(name)
        except ValueError as exc:
            raise ZipappError(f"{name!r} cannot be listed in a manifest: {exc}") from None
        if path.is_dir():
            dirs.append(name + "/")
        elif path.is_file():
            files[name] = path.read_bytes()
    return files, dirs


def sign_files(files: dict[str, bytes], signers: Sequence[Any]) -> Manifest:
    """The root manifest over ``files``, signed by each of ``signers`` in turn."""
    from . import sha256_hex, sign_manifest  # pycryptodome: only needed when signing

    hashes = {name: sha256_hex(data) for name, data in files.items()}
    manifest = None
    for signer in signers:
        manifest = sign_manifest(hashes, signer, previous=manifest)
    assert manifest is not None
    return manifest


def zip_date_time() -> tuple[int, int, int, int, int, int]:
    """The timestamp of every entry: SOURCE_DATE_EPOCH (clamped to what zip holds), else 1980."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        epoch = int(value) if value else ZIP_EPOCH_MIN
    except ValueError:
        raise ZipappError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds") from None
    return time.gmtime(min(max(epoch, ZIP_EPOCH_MIN), ZIP_EPOCH_MAX))[:6]


def zip_info(name: str, date_time: tuple[int, ...]) -> zipfile.ZipInfo:
    """An entry with fixed metadata, so the archive depends on names and bytes alone."""
    info = zipfile.ZipInfo(name, date_time)
    info.create_system = 3  # Unix, whatever the building system: the modes below are Unix modes
    if name.endswith("/"):
        info.external_attr = (0o40000 | DIR_MODE) << 16 | 0x10
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = (0o100000 | FILE_MODE) << 16
        info.compress_type = zipfile.ZIP_STORED if name in STORED else zipfile.ZIP_DEFLATED
    return info


def write_archive(output: Path, files: dict[str, bytes], dirs: Sequence[str],
                  interpreter: str | None) -> None:
    """Write the archive beside ``output`` and move it into place: readers never see half of it."""
    date_time = zip_date_time()
    entries = sorted([*files, *dirs], key=lambda n: n.encode("utf-8"))
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            if interpreter:
                stream.write(b"#!" + interpreter.encode(sys.getfilesystemencoding()) + b"\n")
            with zipfile.ZipFile(stream, "w") as archive:
                for name in entries:
                    archive.writestr(zip_info(name, date_time), files.get(name, b""))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _output_mode(executable=bool(interpreter)))
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_mode(executable: bool) -> int:
    """0644 (0755 with a shebang, as ``python -m zipapp`` does), less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o755 if executable else 0o644) & ~umask


# ----------------------------------------------------------------------------- running


class RefusedArchive(Exception):
    """The archive failed the audit; the message lists every reason."""


def run_zipapp(path: str | os.PathLike, keys: Any, argv: Sequence[str]) -> int:
    """Audit the zipapp at ``path`` against ``keys``, then run it verified; return its exit status.

    Nothing of the archive runs unless every entry is listed, intact, and the manifest is signed
    by one of ``keys`` (exit status 1 otherwise, with the reasons on stderr). ``__main__.py``
    runs from the bytes that were checked, with a ``SignedImportManager`` installed, the
    archive first on ``sys.path`` and ``sys.argv == [path, *argv]``.
    """
    path = os.fspath(path)
    pinned = public_keys(keys)
    try:
        main_code = audit_archive(path, pinned)
    except RefusedArchive as exc:
        sys.stderr.write(f"signedimp: refusing to run {path}: {exc}\n")
        return 1
    return execute_main(path, main_code, pinned, list(argv))


def audit_archive(path: str, keys: list[Any]) -> bytes:
    """Check every entry of the archive; return the verified bytes of its ``__main__.py``."""
    from . import verify_path

    report = verify_path(path, keys)
    if not report.ok:
        raise RefusedArchive(describe_report(report))
    return verified_main(path, keys)


def describe_report(report: Any, limit: int = 10) -> str:
    """The audit's problems and (the first ``limit``) failing files, one per line."""
    lines = [f"{problem.kind}: {problem.message}" for problem in report.problems]
    failures = report.failures
    for result in failures[:limit]:
        detail = f" ({result.detail})" if result.detail else ""
        lines.append(f"{result.status}: {result.path}{detail}")
    if len(failures) > limit:
        lines.append(f"... and {len(failures) - limit} more files refused")
    if len(lines) == 1:
        return lines[0]
    return "\n  " + "\n  ".join(lines) if lines else "refused"


def verified_main(path: str, keys: list[Any]) -> bytes:
    """``__main__.py`` and the manifest from ONE read of the file; the bytes only if they match."""
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise RefusedArchive("the archive holds duplicate entries")
            manifest = Manifest.parse(archive.read(MANIFEST_NAME), source=f"{path}/{MANIFEST_NAME}")
            main = archive.read(MAIN_NAME)
    except KeyError as exc:
        raise RefusedArchive(f"{exc.args[0]} is missing") from None
    except (zipfile.BadZipFile, ManifestError, OSError, EOFError) as exc:
        raise RefusedArchive(str(exc)) from None
    try:
        signer = manifest.verify(keys)
    except SignatureMismatch as exc:
        raise RefusedArchive(str(exc)) from None
    if signer is None:
        raise RefusedArchive("the manifest is not signed by a trusted key")
    from . import sha256_hex

    if manifest.lookup(MAIN_NAME) != sha256_hex(main):
        raise RefusedArchive(f"{MAIN_NAME} does not match the signed manifest (modified)")
    return main


def execute_main(path: str, main_code: bytes, keys: list[Any], argv: list[str]) -> int:
    """Run verified ``__main__.py`` bytes as ``__main__``, the hook installed; restore state after."""
    from ..manager import SignedImportManager

    filename = os.path.join(path, MAIN_NAME)
    try:
        # Verified bytes: registered, so that the guard lets it run once the manager is installed.
        code = mark_verified(compile(main_code, filename, "exec", dont_inherit=True))
    except SyntaxError:
        traceback.print_exc()
        return 1
    module = types.ModuleType("__main__")
    module.__file__ = filename
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    saved = _SavedState.take()
    manager = SignedImportManager(keys)
    try:
        manager.install()
        sys.path.insert(0, path)
        sys.argv = [path, *argv]
        sys.modules["__main__"] = module
        exec(code, module.__dict__)
        return 0
    except SystemExit as exc:
        return exit_status(exc.code)
    except IntegrityCheckError as exc:
        message = str(exc)
        prefix = "" if message.startswith("signedimp") else "signedimp: "
        sys.stderr.write(f"{prefix}{message}\n")
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        manager.uninstall()
        saved.restore()


def exit_status(code: object) -> int:
    """The process exit status Python would use for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


class _SavedState:
    """What running an app in-process changes: restored so a caller (or a test) is unaffected."""

    def __init__(self) -> None:
        self.argv = list(sys.argv)
        self.path = list(sys.path)
        # The list objects as well as their items: an installed manager may replace the lists.
        self.meta_path_list, self.meta_path = sys.meta_path, list(sys.meta_path)
        self.path_hooks_list, self.path_hooks = sys.path_hooks, list(sys.path_hooks)
        self.modules = {k: v for k, v in sys.modules.items()
                        if k == "__main__" or k == "signedimp" or k.startswith("signedimp.")}

    @classmethod
    def take(cls) -> "_SavedState":
        return cls()

    def restore(self) -> None:
        sys.argv = self.argv
        sys.path[:] = self.path
        self.meta_path_list[:] = self.meta_path
        sys.meta_path = self.meta_path_list
        self.path_hooks_list[:] = self.path_hooks
        sys.path_hooks = self.path_hooks_list
        sys.path_importer_cache.clear()
        for name in [k for k in sys.modules if k == "signedimp" or k.startswith("signedimp.")]:
            if name not in self.modules:
                del sys.modules[name]
        sys.modules.update(self.modules)
