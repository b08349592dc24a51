"""Signed zipapps: build them (``signedimp zipapp``) and run them verified (``signedimp run``).

An archive built here is an ordinary zipapp (``python app.pyz`` works) whose ``__main__.py``
(the module ``_zipapp_main.py`` with the verifier bootstrap and the pinned public keys written
into its generated block) checks the archive, so every module the app imports, C extensions
included, is checked before it runs. Its inputs are those of shiv and pex: any number of
folders, projects, wheels, requirements and requirements files, installed by ONE
``pip install --target``. Builds are reproducible: entries sorted, fixed
timestamps (``SOURCE_DATE_EPOCH``, else 1980-01-01), fixed modes, and Ed25519 signatures are
deterministic, so the same inputs give the same bytes.

``run_zipapp`` is the launcher side: the key lives outside the archive, the whole archive is
audited first, and ``__main__.py`` is executed from the very bytes that were checked.
"""

from __future__ import annotations

import configparser
import io
import json
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
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import IntegrityCheckError, ManifestError, SignatureMismatch
from ..guard import active_owners, mark_verified
from ..manifest import MANIFEST_NAME, Manifest, check_path
from ..zipdir import PREFIX_NAME
from ._atomic_write import AtomicFile
from ._bootstrap import BYTECODE_MEMBER, RUNTIME_FOLDER, get_bootstrap_code, public_keys, split_bootstrap

__all__ = [
    "APP_MAIN_MODULE",
    "NotAZipapp",
    "ZipappError",
    "build_zipapp",
    "describe_extensions",
    "run_zipapp",
]

#: The module name a source folder's own ``__main__.py`` is renamed to inside the archive: the
#: generated ``__main__.py`` runs it through the import hook (so it is verified) as ``__main__``.
APP_MAIN_MODULE = "_signedimp_app_main"
MAIN_NAME = "__main__.py"
FILE_MODE = 0o644
DIR_MODE = 0o755
ZIP_EPOCH_MIN = 315532800  # 1980-01-01 00:00:00 UTC: the earliest time a zip entry can carry
ZIP_EPOCH_MAX = 4354819198  # 2107-12-31 23:59:58 UTC: the latest
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
#: Read at every start of a --compile app, so stored (not deflated): the runtime's bytecode
#: (inflating its ~370 kB cost about 1 ms), the root manifest (read and hashed once: 2.4 M
#: instructions of inflating pip's 96 kB) and ``__main__.pyc`` (zipimport reads it twice, the
#: self-check once: 0.9 M each for pip's 32 kB). For pip: 67 kB more archive, and
#: 4.2 M instructions (0.7 %) less at each start (benchmarks/README.md, "Zipapp start-up").
STORED = frozenset({BYTECODE_MEMBER, MANIFEST_NAME, MAIN_NAME + "c"})
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ZipappError(ValueError):
    """A zipapp cannot be built as asked; the message says what to change."""


# ----------------------------------------------------------------------------- building


def build_zipapp(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    key: Any,
    *,
    requirements: Sequence[str | os.PathLike] = (),
    main: str | None = None,
    console_script: str | None = None,
    interpreter: str | None = None,
    compile: bool = False,
    pip_args: Sequence[str] = (),
    extra_keys: Sequence[Any] = (),
    log: Callable[[str], object] | None = None,
) -> Manifest:
    """Build a signed, self-verifying zipapp at ``output``; return its manifest.

    ``sources``: any number of plain folders (copied as they are, like ``python -m zipapp``),
    project folders (they have pyproject.toml / setup.py / setup.cfg), wheels (``.whl``) and
    requirement strings (``rich``, ``click>=8``); with ``requirements`` (files, as pip's ``-r``)
    everything but the plain folders is installed, dependencies included, by ONE
    ``pip install --target`` into a staging folder, with ``pip_args`` passed to pip as they are.
    Entry point: ``main`` (``pkg.mod:fn``), or ``console_script`` (a console script's name, from
    any installed distribution), or the folder's ``__main__.py``, or the one console script that
    the *sources'* distributions declare, else none: the app runs like ``python`` (``-m MODULE``,
    ``-c CODE``, interactive), and ``log`` (e.g. ``print``) is told so. ``interpreter``: shebang
    line (none when not given, as with ``python -m zipapp``). ``compile``: add bytecode for the
    building interpreter.
    ``extra_keys``: more keys to pin in ``__main__.py`` (public keys), or to co-sign with
    (private keys), e.g. for a key rotation.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    names = [os.fspath(source) for source in sources]
    if main is not None and console_script is not None:
        raise ZipappError("-c CONSOLE_SCRIPT and -m pkg.mod:fn are alternatives: give one of them")
    if main is not None and not _ENTRY_POINT.match(main):
        raise ZipappError(f"invalid entry point {main!r}: expected pkg.module:function")
    if not names and not requirements:
        raise ZipappError("nothing to build: give at least one SOURCE or -r REQUIREMENTS")
    pip_args = cross_platform_pip_args(list(pip_args), compile)
    output = Path(output)
    remove_stale_staging(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=staging_prefix()) as tmp:
        staging = Path(tmp, "app").resolve()
        try:
            requested = stage_sources(names, [os.fspath(r) for r in requirements], staging, pip_args, output)
        except OSError as error:  # shutil.Error included: one line per file it could not copy
            raise staging_error(error, Path(tmp)) from None
        entry = choose_entry(staging, main, console_script, requested)
        if entry is None and log is not None:
            log(no_entry_note(output, console_scripts(staging)))
        signers = [key, *(k for k in extra_keys if hasattr(k, "sign"))]
        pinned = [*signers, *(k for k in extra_keys if not hasattr(k, "sign"))]
        main_source, members = main_module_source(public_keys(pinned), entry, bytecode=compile)
        (staging / MAIN_NAME).write_text(main_source, encoding="utf-8")
        write_members(staging, members)
        if compile:  # __main__.py too: zipimport would otherwise compile it twice at every start
            compile_bytecode(staging, output.name)
        files, dirs = collect_entries(staging)
    prefix = shebang(interpreter)
    manifest = sign_files(files, signers, prefix)
    files[MANIFEST_NAME] = manifest.serialise()
    write_archive(output, files, dirs, prefix, executable=bool(interpreter))
    return manifest


#: The staging folders in ``$TMPDIR``: ``signedimp-zipapp-<pid>-<random>``; the pid says whose.
STAGING_MARK = "signedimp-zipapp-"


def staging_prefix() -> str:
    """The name prefix of this process's staging folder (``tempfile`` adds the random part)."""
    return f"{STAGING_MARK}{os.getpid()}-"


def remove_stale_staging(directory: str) -> list[str]:
    """Remove the staging folders in ``directory`` of ``signedimp zipapp`` runs that were killed
    (SIGKILL, a power cut: nothing could clean up). A folder whose process (the pid in its name)
    is still running is left alone, as are names without a pid. Returns the removed paths."""
    from ._atomic_write import _process_is_running

    removed: list[str] = []
    try:
        names = [name for name in os.listdir(directory) if name.startswith(STAGING_MARK)]
    except OSError:
        return removed
    for name in names:
        pid_text, dash, _random = name[len(STAGING_MARK) :].partition("-")
        if not dash or not pid_text.isdigit() or _process_is_running(int(pid_text)):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def staging_error(error: OSError, folder: Path) -> ZipappError:
    """A short error for a failed copy into the staging folder: the first failure, and how many
    more there were (``shutil.Error`` holds one entry per file, which can run to megabytes)."""
    import errno

    failures = error.args[0] if isinstance(error, shutil.Error) and error.args else None
    if isinstance(failures, list) and failures:
        first = failures[0]
        cause = str(first[2]) if isinstance(first, tuple) and len(first) == 3 else str(first)
        more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
        full = "No space left on device" in cause or "Disk quota exceeded" in cause
    else:
        cause, more = str(error), ""
        full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if full:
        hint = "the file system of the temporary folder is full: free space there or set TMPDIR to a roomier folder"
    else:
        hint = "staging the sources failed"
    if len(cause) > 300:
        cause = cause[:300] + "..."
    return ZipappError(f"cannot stage the app in {folder}: {hint}: {cause}{more}")


def classify_source(source: str) -> str:
    """``folder``, ``project``, ``wheel`` or ``requirement``: how ``source`` is staged."""
    path = Path(source)
    if path.is_dir():
        return "project" if any((path / name).is_file() for name in PROJECT_FILES) else "folder"
    if path.is_file():
        if path.suffix == ".whl":
            return "wheel"
        hint = " (a requirements file goes after -r)" if path.suffix in (".txt", ".in") else ""
        raise ZipappError(f"{source}: not a folder, a project or a wheel (.whl){hint}")
    if "@" in source or "://" in source:  # a direct reference: name @ URL, or a URL pip accepts
        return "requirement"
    if source.endswith(".whl") or os.sep in source or (os.altsep and os.altsep in source):
        raise ZipappError(f"{source}: no such file or directory")
    return "requirement"


def stage_sources(
    sources: Sequence[str], requirements: Sequence[str], staging: Path, pip_args: Sequence[str], output: Path
) -> set[str] | None:
    """Fill ``staging``: one pip install of everything installable, then the plain folders.

    Returns the normalised names of the distributions the sources asked for (pip's report),
    whose console scripts are the candidates for the default entry point; None when unknown.
    """
    folders, specs = [], []
    for source in sources:
        kind = classify_source(source)
        if kind == "folder":
            folders.append(Path(source))
        else:
            specs.append(source if kind == "requirement" else str(Path(source).resolve()))
    for requirement_file in requirements:
        if not Path(requirement_file).is_file():
            raise ZipappError(f"-r {requirement_file}: no such requirements file")
    staging.mkdir(parents=True)
    requested: set[str] | None = set()
    if specs or requirements:
        requested = pip_install(specs, requirements, staging, pip_args)
        shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: the archive has its own main
    for folder in folders:
        copy_folder(folder, staging, output)
    remove_caches(staging)
    (staging / MANIFEST_NAME).unlink(missing_ok=True)  # a stale root manifest: replaced by ours
    if (staging / RUNTIME_FOLDER).exists():
        raise ZipappError(f"the source already has {RUNTIME_FOLDER}; it is reserved by signedimp")
    return requested


def normalise_name(name: str) -> str:
    """Distribution names compare equal whatever their case and ``-``/``_``/``.`` spelling."""
    return re.sub(r"[-_.]+", "_", name).lower()


def copy_folder(source: Path, staging: Path, output: Path) -> None:
    """Copy a plain folder as ``python -m zipapp`` would, minus caches and the output itself.

    Several sources share one staging folder: a file that another source already put there is
    an error, never silently overwritten.
    """
    target = output.resolve()
    for folder, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        relative = Path(folder).relative_to(source)
        (staging / relative).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            path = Path(folder, name)
            if path.resolve() == target:
                continue
            destination = staging / relative / name
            if destination.exists():
                raise ZipappError(
                    f"{source}: {(relative / name).as_posix()} is also in another source "
                    "(or installed by pip); a zipapp holds one file per name"
                )
            shutil.copy2(path, destination)


def pip_install(
    specs: Sequence[str], requirements: Sequence[str], staging: Path, pip_args: Sequence[str]
) -> set[str] | None:
    """ONE ``pip install --target`` of everything, as the zipapp docs recommend; pip resolves
    all the sources' dependencies together. Returns the requested distributions' names."""
    report = staging.parent / "pip-report.json"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(staging),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--no-input",
        "--quiet",
        "--report",
        str(report),
        *pip_args,
    ]
    for requirement_file in requirements:
        command += ["-r", str(Path(requirement_file).resolve())]
    command += list(specs)
    result = subprocess.run(command, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        asked = ", ".join([*(repr(s) for s in specs), *(f"-r {r}" for r in requirements)])
        raise ZipappError(
            f"pip install of {asked} failed (exit status {result.returncode}); see pip's output above"
        )
    return requested_distributions(report)


def requested_distributions(report: Path) -> set[str] | None:
    """The normalised names of what was asked for (not pulled in as a dependency), from pip's
    ``--report``; None when pip wrote no report."""
    try:
        document = json.loads(report.read_text(encoding="utf-8"))
        return {
            normalise_name(item["metadata"]["name"])
            for item in document.get("install", ())
            if item.get("requested")
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: pip options that select another platform's or Python's wheels.
CROSS_OPTIONS = ("--platform", "--python-version", "--implementation", "--abi")


def pip_option_values(pip_args: Sequence[str], option: str) -> list[str]:
    """The values given to ``option`` in ``pip_args`` (``--opt=V`` or ``--opt V``)."""
    values = []
    for index, arg in enumerate(pip_args):
        if arg.startswith(option + "="):
            values.append(arg[len(option) + 1 :])
        elif arg == option and index + 1 < len(pip_args):
            values.append(pip_args[index + 1])
    return values


def cross_platform_pip_args(pip_args: list[str], compile: bool) -> list[str]:
    """Building for another platform or Python (pip's ``--platform``, ``--python-version``, ...).

    Supported: pip picks that target's wheels; as pip requires, binary wheels only
    (``--only-binary=:all:`` is added unless ``--only-binary``/``--no-deps`` is given). The
    runtime embedded in ``__main__`` is pure Python and falls back to its sources on another
    Python. Refused: ``--compile`` for another Python version, since bytecode is written by the
    building interpreter and would be dead weight (or wrong) there.
    """
    if not any(pip_option_values(pip_args, option) for option in CROSS_OPTIONS):
        return pip_args
    if compile:
        here = "{}.{}".format(*sys.version_info[:2])
        for version in pip_option_values(pip_args, "--python-version"):
            wanted = version if "." in version else f"{version[:1]}.{version[1:]}"
            if wanted != here:
                raise ZipappError(
                    f"--compile writes bytecode for the building Python {here}, not for "
                    f"--python-version {version}: build with Python {wanted}, or leave out --compile "
                    "(the app then compiles its verified sources when it runs)"
                )
        for implementation in pip_option_values(pip_args, "--implementation"):
            if implementation not in ("cp", "py") or sys.implementation.name != "cpython":
                raise ZipappError(
                    f"--compile writes bytecode for this {sys.implementation.name}, not for "
                    f"--implementation {implementation}: leave out --compile"
                )
    if not any(arg.startswith(("--only-binary", "--no-deps")) for arg in pip_args):
        pip_args = [*pip_args, "--only-binary=:all:"]
    return pip_args


def remove_caches(staging: Path) -> None:
    """Drop ``__pycache__`` folders: bytecode nobody asked for (``--compile`` writes its own)."""
    for cache in sorted(staging.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            shutil.rmtree(cache)


def choose_entry(
    staging: Path, main: str | None, console_script: str | None = None, requested: set[str] | None = None
) -> str | None:
    """The entry point: ``-m``; ``-c`` (any distribution's console script); else the folder's
    ``__main__.py`` (renamed); else the one console script of the sources' own distributions;
    else None, as shiv and pex do: the app runs like ``python`` (``-m``, ``-c``, interactive)."""
    own_main = staging / MAIN_NAME
    if own_main.exists():
        if main is not None or console_script is not None:
            chosen = f"-m {main}" if main is not None else f"-c {console_script}"
            raise ZipappError(f"{MAIN_NAME} already in the source: cannot also use {chosen}")
        renamed = staging / f"{APP_MAIN_MODULE}.py"
        if renamed.exists():
            raise ZipappError(f"the source already has {renamed.name}; it is reserved by signedimp")
        own_main.rename(renamed)
        return APP_MAIN_MODULE
    if main is not None:
        return main
    scripts = console_scripts(staging)
    if console_script is not None:
        return named_script(scripts, console_script)
    own = [s for s in scripts if requested is None or s[2] in requested]
    targets = sorted({target for _, target, _ in own})
    if len(targets) == 1:
        return targets[0]
    if targets:
        raise ZipappError(
            f"several console scripts in the sources: {describe_scripts(own)}; "
            "choose one with -c NAME (or -m pkg.mod:fn)"
        )
    return None  # no entry point: the app is an interpreter (-m MODULE, -c CODE, interactive)


def no_entry_note(output: Path, scripts: Sequence[tuple[str, str, str]]) -> str:
    """What a build without an entry point says: how the app runs, and the scripts it could use."""
    note = (
        f"{output}: no entry point (-c, -m, __main__.py, or one console script of the sources): "
        f"it runs like python: `{output.name} -m MODULE`, `{output.name} -c CODE`, or interactive"
    )
    if scripts:
        note += f"; console scripts that -c can choose: {describe_scripts(scripts)}"
    return note


def named_script(scripts: Sequence[tuple[str, str, str]], name: str) -> str:
    """The target of the console script ``name`` (``-c``), from whichever distribution has it."""
    targets = sorted({target for script, target, _ in scripts if script == name})
    if len(targets) == 1:
        return targets[0]
    if targets:
        same = [s for s in scripts if s[0] == name]
        raise ZipappError(
            f"-c {name}: several distributions declare it ({describe_scripts(same)}); "
            "choose with -m pkg.mod:fn"
        )
    known = describe_scripts(scripts) if scripts else "none"
    raise ZipappError(
        f"-c {name}: no installed distribution declares a console script of that name (declared: {known})"
    )


def describe_scripts(scripts: Sequence[tuple[str, str, str]]) -> str:
    """``name=pkg.mod:fn (distribution), ...``: the candidates an error message lists."""
    return ", ".join(f"{name}={target} ({dist})" for name, target, dist in sorted(scripts))


def console_scripts(staging: Path) -> list[tuple[str, str, str]]:
    """``(name, pkg.mod:fn, normalised distribution name)`` for every installed console script."""
    scripts = []
    for path in sorted(staging.glob("*.dist-info/entry_points.txt")):
        distribution = normalise_name(path.parent.name.split("-", 1)[0])
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(path.read_text(encoding="utf-8"))
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ZipappError(f"{path.relative_to(staging)}: unreadable entry points: {exc}") from None
        if parser.has_section("console_scripts"):
            for name, value in parser.items("console_scripts"):
                target = value.split("[", 1)[0].replace(" ", "")
                if _ENTRY_POINT.match(target):
                    scripts.append((name, target, distribution))
    return scripts


#: A shared library: an extension module (``.so``, ``.pyd``) or one bundled beside it.
_SHARED_LIBRARY = re.compile(r"\.(so(\.\d+)*|pyd|dylib|dll)$")


def extension_modules(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(dotted names of the extension modules, other shared libraries) among archive ``names``.

    An extension module sits in a package folder and its file name starts with an identifier
    (``yaml/_yaml.cpython-312-x86_64-linux-gnu.so``); libraries that auditwheel and delocate
    bundle (``numpy.libs/libgfortran-....so.5``) are in folders that are not packages.
    """
    modules, libraries = [], []
    for name in sorted(names):
        if not _SHARED_LIBRARY.search(name):
            continue
        *folders, filename = name.split("/")
        stem = filename.split(".", 1)[0]
        if stem.isidentifier() and all(folder.isidentifier() for folder in folders):
            modules.append(".".join([*folders, stem]))
        else:
            libraries.append(name)
    return modules, libraries


def describe_extensions(names: Iterable[str], limit: int = 6) -> str | None:
    """What a build with compiled code says about it (None when there is none)."""
    names = list(names)
    modules, libraries = extension_modules(names)
    if not modules:
        return None
    more = len(modules) - limit
    shown = ", ".join(modules[:limit]) + (f", ... {more} more" if more > 0 else "")
    noun = "extension module" if len(modules) == 1 else "extension modules"
    text = f"includes {len(modules)} {noun} ({shown})"
    if libraries:
        folders = sorted({name.rpartition("/")[0] + "/" for name in libraries})
        plural = "y" if len(libraries) == 1 else "ies"
        text += f" and {len(libraries)} bundled shared librar{plural} ({', '.join(folders)})"
    tags = sorted(
        {tag for tag in (extension_tag(name) for name in names if _SHARED_LIBRARY.search(name)) if tag}
    )
    if tags:
        text += f", built for {', '.join(tags)}"
    return text + "; they load from the archive, verified"


def extension_tag(name: str) -> str | None:
    """The platform tag in an extension module's file name (``cpython-312-x86_64-linux-gnu``,
    ``abi3``), which says which Pythons can load it; None for a library or an untagged name."""
    *folders, filename = name.split("/")
    parts = filename.split(".")
    if len(parts) == 3 and parts[0].isidentifier() and all(f.isidentifier() for f in folders):
        return parts[1]
    return None


def compile_bytecode(staging: Path, archive_name: str) -> None:
    """Compile every ``.py`` to a ``.pyc`` beside it, reproducibly, for the building interpreter.

    Beside the source (``compileall -b``) because that is the only place zipimport looks, so a
    plain ``python -m zipapp`` archive of the same files uses the same bytecode. Unchecked-hash
    pycs carry no timestamp (the manifest hash is their proof of freshness); a fixed hash seed
    and a fresh process make the bytes repeatable; file names in tracebacks read
    ``app.pyz/pkg/mod.py``.
    """
    command = [
        sys.executable,
        "-I",
        "-m",
        "compileall",
        "-q",
        "-b",
        "-r",
        "1000",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(staging),
        "-p",
        archive_name,
        str(staging),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if result.returncode != 0:  # a file that does not compile keeps its source only
        print(f"signedimp zipapp: some files did not compile:\n{result.stdout}", file=sys.stderr)


def write_members(staging: Path, members: dict[str, bytes]) -> None:
    """The runtime members that the generated ``__main__.py`` pins by SHA-256 (split_bootstrap)."""
    for name, data in members.items():
        path = staging / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)


#: The lines that open and close the generated block of ``_zipapp_main.py``.
GENERATED_BEGIN = "# >>> signedimp-generated"
GENERATED_END = "# <<< signedimp-generated"


def main_template() -> str:
    """The source text of ``signedimp/tools/_zipapp_main.py``: the archive's ``__main__.py``."""
    return resources.files(__package__).joinpath("_zipapp_main.py").read_text(encoding="utf-8")


def main_module_source(
    keys: list[Any], entry: str | None, *, bytecode: bool = False
) -> tuple[str, dict[str, bytes]]:
    """The generated ``__main__.py`` (``_zipapp_main.py`` with the bootstrap and the entry point
    in its generated block) and the runtime members it pins.

    Without bytecode ``__main__.py`` embeds ``get_bootstrap_code(keys)`` verbatim and there are
    no members. With bytecode (``--compile``) the runtime sits beside it, pinned by SHA-256
    literals, so that ``__main__.pyc``, which runpy has zipimport read twice, stays small: that
    halves the start-up cost a signed app adds (benchmarks/README.md).
    """
    if entry is None:
        literal: tuple[str, ...] = ("python",)
    elif entry == APP_MAIN_MODULE:
        literal = ("run", APP_MAIN_MODULE)
    else:
        module, _, function = entry.partition(":")
        literal = ("call", module, function)
    if bytecode:
        bootstrap, members = split_bootstrap(keys, bytecode=True)
    else:
        bootstrap, members = get_bootstrap_code(keys), {}
    generated = f"{bootstrap}\n\nENTRY = {literal!r}\n"
    return fill_template(main_template(), generated), members


def fill_template(template: str, generated: str) -> str:
    """``template`` with the lines between its markers (included) replaced by ``generated``."""
    lines = template.splitlines(keepends=True)
    begin = [i for i, line in enumerate(lines) if line.startswith(GENERATED_BEGIN)]
    end = [i for i, line in enumerate(lines) if line.startswith(GENERATED_END)]
    if len(begin) != 1 or len(end) != 1 or begin[0] > end[0]:
        raise AssertionError("_zipapp_main.py must have exactly one generated block")  # a packaging bug
    header = (
        f"# Generated by `signedimp zipapp` from signedimp/tools/_zipapp_main.py; listed and "
        f"signed in {MANIFEST_NAME} like every other entry.\n"
    )
    return "".join([header, *lines[: begin[0]], generated, *lines[end[0] + 1 :]])


def collect_entries(staging: Path) -> tuple[dict[str, bytes], list[str]]:
    """Every file (name -> bytes) under ``staging``, and each folder with nothing below it
    (``name/``), with checked names.

    A folder that holds a file or folder is implied by that name (the verifier's zip finder, like
    ``zipfile.Path``, sees it), so it gets no entry of its own: pip's hundred folders are a
    hundred fewer central-directory entries for ``zipimport`` and then the verifier to read at
    every start of the app. An empty folder keeps its entry, so nothing of the tree is lost.
    """
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
    below = [*files, *(folder[:-1] for folder in dirs)]  # what implies the folders above it
    implied = {name[: index + 1] for name in below for index, char in enumerate(name) if char == "/"}
    return files, [folder for folder in dirs if folder not in implied]


def sign_files(files: dict[str, bytes], signers: Sequence[Any], prefix: bytes = b"") -> Manifest:
    """The root manifest over ``files`` and the archive's ``prefix`` (under ``PREFIX_NAME``),
    signed by each of ``signers`` in turn."""
    from . import sha256_hex, sign_manifest  # pycryptodome: only needed when signing

    if PREFIX_NAME in files:
        raise ZipappError(f"{PREFIX_NAME!r} is reserved for the archive prefix in the manifest: rename it")
    hashes = {name: sha256_hex(data) for name, data in files.items()}
    hashes[PREFIX_NAME] = sha256_hex(prefix)
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


def zip_info(name: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
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


def shebang(interpreter: str | None) -> bytes:
    """The archive's prefix: ``#!INTERPRETER`` and a newline, or nothing."""
    if not interpreter:
        return b""
    return b"#!" + interpreter.encode(sys.getfilesystemencoding()) + b"\n"


def write_archive(
    output: Path, files: dict[str, bytes], dirs: Sequence[str], prefix: bytes, executable: bool
) -> None:
    """Write the archive beside ``output`` and move it into place: readers never see half of it."""
    date_time = zip_date_time()
    entries = sorted([*files, *dirs], key=lambda n: n.encode("utf-8"))
    output.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(str(output), _output_mode(executable=executable)) as stream:
        stream.write(prefix)
        with zipfile.ZipFile(stream, "w") as archive:
            for name in entries:
                archive.writestr(zip_info(name, date_time), files.get(name, b""))


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
    identify_archive(path)
    try:
        main_code = audit_archive(path, pinned)
    except RefusedArchive as exc:
        sys.stderr.write(f"signedimp: refusing to run {path}: {exc}\n")
        return 1
    return execute_main(path, main_code, pinned, list(argv))


class NotAZipapp(ZipappError):
    """``signedimp run`` was given something that is not a signed zipapp: says what it is."""


def identify_archive(path: str) -> None:
    """Refuse, with what it is and what to do, anything that is not a signed zipapp.

    A wheel, a plain zip or an unsigned zipapp gets a message that names it, instead of the
    audit's complaint about a missing manifest.
    """
    build = "build a signed zipapp with `signedimp zipapp SOURCE... -o APP.pyz --key KEY.pem`"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError, ValueError):
        return  # damaged, truncated or no zip at all: the audit refuses it with the reason
    is_wheel = path.endswith(".whl") or any(re.fullmatch(r"[^/]+\.dist-info/WHEEL", name) for name in names)
    if MAIN_NAME not in names:
        if is_wheel:
            raise NotAZipapp(
                f"{path}: a wheel, not a zipapp (it has no {MAIN_NAME}): check it with "
                f"`signedimp verify {path} --key PUB.pem` and install it with pip, or make an app of it "
                f"with `signedimp zipapp {path} -o APP.pyz --key KEY.pem`"
            )
        raise NotAZipapp(f"{path}: a zip archive without {MAIN_NAME}, not a zipapp; {build}")
    if MANIFEST_NAME not in names:
        raise NotAZipapp(
            f"{path}: a zipapp that is not signed (it has no {MANIFEST_NAME}): sign it with "
            f"`signedimp sign {path} --key KEY.pem`, or {build}"
        )


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
    owners_before = active_owners()
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
        # Managers the app installed itself (its bootstrap) go too: the process is the caller's again.
        for owner in active_owners():
            if owner not in owners_before:
                owner.uninstall()
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
        self.modules = {
            k: v
            for k, v in sys.modules.items()
            if k == "__main__" or k == "signedimp" or k.startswith("signedimp.")
        }

    @classmethod
    def take(cls) -> _SavedState:
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
