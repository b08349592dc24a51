"""The ``signedimp`` command: make keys, sign and verify artifacts, build and run zipapps.

Exit codes: 0 success, 1 verification refused something (``verify``, ``run``) or the input is
refused as hostile or unreadable (a corrupt zip, a member or file over the limits, a special
file, folders nested too deep: ``UnsafeInputError``), 2 usage or configuration error (bad
arguments, unreadable key, missing file).  Errors are one line on stderr, never a traceback;
names in text output are escaped (``audit_report.shown``).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..__about__ import __version__
from ..errors import (
    IntegrityCheckError,
    KeyFormatError,
    ManifestError,
    SignatureMismatch,
    UnsafeInputError,
    ZipFormatError,
)
from ..zipdir import PREFIX_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing, pathlib and json cost start-up time of every command
    from collections.abc import Sequence
    from typing import Any, NoReturn

PROG = "signedimp"
DEFAULT_KEY_FILE = "signedimp-key.pem"

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A usage or configuration problem: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the same single ``signedimp: error:`` line as any other."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _UsageError(Exception):
    """An argument the parser refused; ``main`` reports it (as JSON too, for ``verify --json``)."""


# ------------------------------------------------------------------- helpers


def _tools() -> Any:
    """signedimp.tools, imported on first use: ``--help`` and ``--version`` need no pycryptodome."""
    from .. import tools

    return tools


def _env_passphrase(var: str | None) -> str | None:
    """The passphrase held in environment variable ``var`` (named by --passphrase-env)."""
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise CommandError(f"--passphrase-env: environment variable {var} is not set or empty")
    return value


def _signing_key(args: argparse.Namespace) -> Any:
    passphrase = _env_passphrase(getattr(args, "passphrase_env", None))
    return _tools().load_signing_key(args.key, passphrase=passphrase)


def _verify_keys(paths: Sequence[str] | None, passphrase_env: str | None = None) -> list[Any]:
    """Trusted public keys from files; a private key file's passphrase may come from the env."""
    if not paths:
        raise CommandError("at least one --key PUB.pem is required (the trusted public key)")
    env = dict(os.environ)
    if passphrase_env:
        env["SIGNEDIMP_KEY_PASSPHRASE"] = _env_passphrase(passphrase_env) or ""
    keys: list[Any] = []
    for path in paths:
        keys.extend(_tools().load_verify_keys(path, env=env))
    return keys


def _write_new_file(path: str, data: bytes, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` from the start (a private key is never world-readable)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "wb") as fh:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # an overwritten file keeps its old mode otherwise
        fh.write(data)


# ------------------------------------------------------------------ commands


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new private key (mode 0600) and its public key beside it (``.pub``)."""
    out = str(args.output)
    pub = f"{out}.pub"
    existing = [p for p in (out, pub) if os.path.exists(p)]
    if existing and not args.force:
        raise CommandError(f"{existing[0]} already exists (use --force to overwrite)")
    passphrase = _env_passphrase(args.passphrase_env)
    if args.type == "ed25519" and args.bits is not None:
        raise CommandError("--bits applies to RSA keys only")
    key = _tools().generate_key(args.type, args.bits or 3072)
    _write_new_file(out, key.to_pem(passphrase), 0o600, args.force)
    _write_new_file(pub, key.public_pem(), 0o644, args.force)
    encrypted = ", encrypted" if passphrase else ""
    print(f"wrote {out} ({key.algorithm}{encrypted}) and {pub}")
    print(f"fingerprint: {key.fingerprint}")
    return EXIT_OK


def cmd_pubkey(args: argparse.Namespace) -> int:
    """Print the public key PEM and fingerprint of a private or public key file."""
    for key in _verify_keys([args.keyfile], args.passphrase_env):
        sys.stdout.write(key.to_pem().rstrip("\n") + "\n")
        print(f"fingerprint: {key.fingerprint}")
    return EXIT_OK


def _show_progress(args: argparse.Namespace) -> None:
    """Progress of long hashing jobs on stderr: only on a terminal, never with ``--quiet``."""
    from ._manifest_signing import set_progress

    set_progress(not args.quiet and sys.stderr.isatty())


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign each path in place; one line per path with the signer and the file count."""
    key = _signing_key(args)
    from ._manifest_signing import cosigning_report, current_signers

    _show_progress(args)

    for path in args.paths:
        before = current_signers(path) if os.path.exists(path) else []
        manifest = _tools().sign_path(path, key)
        files = len(manifest) - (PREFIX_NAME in manifest)  # a zip's prefix is listed, not a file
        print(f"signed {path}: {_count(files, 'file')}, key {key.fingerprint}")
        for line in cosigning_report(before, manifest, key.fingerprint):
            print(f"  {line}")
    return EXIT_OK


def _print_report(report: Any) -> None:
    from ._audit_report import shown  # names escaped: a crafted name cannot forge a line

    where = shown(report.path)
    for problem in report.problems:
        print(f"{where}: {problem.kind}: {shown(problem.message)}")
    for result in report.failures:
        detail = f" ({shown(result.detail)})" if result.detail else ""
        if result.status == "modified" and result.expected and result.actual:
            detail = f" (expected {result.expected}, found {result.actual})"
        print(f"{where}: {result.status}: {shown(result.path)}{detail}")
    counts = report.counts()
    if report.ok:
        signers = ", ".join(report.all_signers())
        skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
        print(f"{where}: OK ({_count(counts['ok'], 'file')} verified{skipped}, signed by {signers})")
    else:
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        problems = f", {_count(len(report.problems), 'problem')}" if report.problems else ""
        print(f"{where}: FAILED ({summary or 'no files'}{problems})")


def cmd_verify(args: argparse.Namespace) -> int:
    """Audit each path; exit 1 when anything is modified, missing, unlisted or untrusted."""
    keys = _verify_keys(args.key)
    for path in args.paths:
        if not os.path.exists(path):
            raise CommandError(f"{path}: no such file or directory")
    _show_progress(args)
    reports = [_tools().verify_path(path, keys) for path in args.paths]
    ok = all(r.ok for r in reports)
    if args.json:
        import json

        document = {
            "ok": ok,
            "keys": [k.fingerprint for k in keys],
            "signers": sorted({fp for r in reports for fp in r.all_signers()}),
            "results": [r.to_dict() for r in reports],
        }
        print(json.dumps(document, indent=2, sort_keys=False))
    else:
        for report in reports:
            _print_report(report)
    return EXIT_OK if ok else EXIT_REFUSED


def cmd_zipapp(args: argparse.Namespace) -> int:
    """Build a signed zipapp (the work is in ``signedimp.tools._zipapp``)."""
    key = _signing_key(args)
    from . import _zipapp as zipapp

    manifest = zipapp.build_zipapp(
        args.sources,
        args.output,
        key,
        requirements=args.requirements,
        main=args.main,
        console_script=args.console_script,
        interpreter=args.python,
        compile=args.compile,
        pip_args=args.pip_args,
        log=print,
    )
    print(f"wrote {args.output}: {_count(len(manifest), 'file')}, key {key.fingerprint}")
    extensions = zipapp.describe_extensions(manifest.hashes)
    if extensions:
        print(f"{args.output} {extensions}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Verify a zipapp completely (``__main__.py`` included) and run it with the app's arguments."""
    keys = _verify_keys(args.key)
    if os.path.isdir(args.archive):
        raise CommandError(f"{args.archive}: is a folder; `signedimp run` runs a zipapp (.pyz) archive")
    if not os.path.isfile(args.archive):
        raise CommandError(f"{args.archive}: no such file")
    from . import _zipapp as zipapp

    return int(zipapp.run_zipapp(args.archive, keys, list(args.app_args)) or 0)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Print the self-contained verifier source with the pinned keys."""
    keys = _verify_keys(args.key)
    from . import _bootstrap as bootstrap

    # Frozen: with the runtime compiled by this Python (used when the app runs on the same one).
    text = bootstrap.get_bootstrap_code(keys, frozen=args.frozen, bytecode=args.frozen)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


#: DESIGN.md: set to 1 (as the build hook reads it: 1, true, yes, on), every build needs the key.
REQUIRE_KEY_ENV = "SIGNEDIMP_REQUIRE_KEY"
_TRUE_VALUES = ("1", "true", "yes", "on")


def cmd_freeze(args: argparse.Namespace) -> int:
    """Run the freezer with the frozen bootstrap, then seal its output (see tools/_freeze.py)."""
    from ._freeze import FreezeError, freeze

    freezer_args = list(args.freezer_args)
    if not freezer_args:
        raise CommandError(f"freeze {args.freezer}: give the freezer's arguments after '--'")
    one_time = args.key is None and not os.environ.get(_tools().KEY_ENV)
    if one_time and os.environ.get(REQUIRE_KEY_ENV, "").strip().lower() in _TRUE_VALUES:
        raise CommandError(
            f"freeze: no signing key, and {REQUIRE_KEY_ENV} is set (every build must sign with the real "
            f"key, not a one-time one): pass --key FILE or set {_tools().KEY_ENV} to the PEM text of the key"
        )
    key = None if one_time else _signing_key(args)
    try:
        result = freeze(args.freezer, freezer_args, key, stdout=sys.stderr)
    except FreezeError as exc:
        raise CommandError(str(exc)) from None
    if result.onefile:
        print(
            f"froze {result.output} (onefile: its content is inside the executable, which the "
            "OS signature must cover; nothing on disk to seal)"
        )
    else:
        print(f"froze and sealed {result.output}: {_count(result.files, 'file')}, key {result.fingerprint}")
    if result.one_time_key:
        print(f"one-time key {result.fingerprint}: pinned in the app and used to seal it, then thrown away")
    return EXIT_OK


def cmd_launcher(args: argparse.Namespace) -> int:
    """Write a launcher script for a sealed environment (``signedimp.tools._launcher``)."""
    keys = _verify_keys(args.key)
    from . import _launcher as launcher

    try:
        text = launcher.launcher_source(
            keys, args.path, script=args.console_script, entry=args.main, python=args.python
        )
    except launcher.LauncherError as exc:
        raise CommandError(str(exc)) from None
    launcher.write_launcher(args.output, text)
    which = f"console script {args.console_script}" if args.console_script else args.main
    print(
        f"wrote {args.output}: runs {which} from {', '.join(args.path)}, "
        f"keys {', '.join(k.fingerprint for k in keys)}"
    )
    return EXIT_OK


# -------------------------------------------------------------------- parser


def _add_passphrase_env(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help=f"read the passphrase {what} from environment variable VAR "
        "(default for reading: SIGNEDIMP_KEY_PASSPHRASE)",
    )


def _add_signing_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        "-k",
        metavar="KEY.pem",
        help="private key file (PKCS#8 PEM, RSA PEM or OpenSSH); default: the PEM text in SIGNEDIMP_KEY",
    )
    _add_passphrase_env(parser, "of an encrypted key")


def _add_trusted_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        "-k",
        metavar="PUB.pem",
        action="append",
        default=[],
        help="trusted public key (PEM, ssh-ed25519/ssh-rsa line, or a private key file); repeatable",
    )


def _add_output(
    parser: argparse.ArgumentParser,
    metavar: str,
    help: str | None = None,
    *,
    required: bool = False,
    default: str | None = None,
) -> None:
    """``-o/--output FILE``: what the command writes (each command names and explains its file)."""
    parser.add_argument("-o", "--output", metavar=metavar, required=required, default=default, help=help)


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress line on stderr (shown only on a terminal anyway)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _add_entry_point(
    parser: argparse.ArgumentParser, console_script_help: str, main_help: str, *, required: bool = False
) -> None:
    """``-c/--console-script NAME`` or ``-m/--main pkg.mod:fn``, one of them (zipapp, launcher)."""
    which = parser.add_mutually_exclusive_group(required=required)
    which.add_argument("-c", "--console-script", metavar="CONSOLE_SCRIPT", help=console_script_help)
    which.add_argument("-m", "--main", metavar="pkg.mod:fn", help=main_help)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of DESIGN.md."""
    parser = _Parser(
        prog=PROG,
        description="Sign Python code and verify it before it is imported.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "keygen",
        help="make a signing key pair",
        description="Write KEY.pem (private, mode 0600) and KEY.pem.pub.",
    )
    p.add_argument(
        "-t", "--type", choices=("ed25519", "rsa"), default="ed25519", help="key type (default: ed25519)"
    )
    _add_output(
        p, "KEY.pem", f"private key file to write (default: {DEFAULT_KEY_FILE})", default=DEFAULT_KEY_FILE
    )
    p.add_argument("--bits", type=int, default=None, help="RSA modulus size (default: 3072)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    _add_passphrase_env(p, "to encrypt the key with")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser(
        "pubkey",
        help="print a key's public PEM and fingerprint",
        description="Print the public key (PEM) and its fingerprint.",
    )
    p.add_argument("keyfile", metavar="KEY.pem", help="private or public key file")
    _add_passphrase_env(p, "of an encrypted key")
    p.set_defaults(func=cmd_pubkey)

    p = sub.add_parser(
        "sign",
        help="sign directories, zips, wheels and zipapps in place",
        description="Sign each PATH (directory, .zip, .whl, .pyz) in place.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    _add_signing_key(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser(
        "verify",
        help="audit signed paths offline",
        description="Check every file of each PATH against its signed manifests. "
        "Exit 0 when all is good, 1 when anything is refused, 2 on usage errors.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    _add_trusted_keys(p)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _add_quiet(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "zipapp",
        help="build a signed, self-verifying zipapp",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build APP.pyz, signed, from any number of SOURCEs and requirements files.\n\n"
        "SOURCE is one of:\n"
        "  a folder       copied as it is (like python -m zipapp); its __main__.py, if any,\n"
        "                 is the entry point\n"
        "  a project      a folder with pyproject.toml, setup.py or setup.cfg: built and installed\n"
        "  a wheel        a .whl file: installed\n"
        "  a requirement  a name with an optional version (rich, 'click>=8'): installed from\n"
        "                 the package index\n"
        "Projects, wheels, requirements and -r files are installed together, with their\n"
        "dependencies, by one `pip install --target`; --pip-arg passes options to it.\n\n"
        "The entry point: -m, or -c, or a folder's __main__.py, or else the one console\n"
        "script that the SOURCEs' own distributions declare; with none, the app runs like\n"
        "python (APP.pyz -m MODULE, APP.pyz -c CODE, or interactive).\n"
        "Extension modules are included and load from the archive, verified.",
    )
    p.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="a folder, a project folder, a .whl, or a requirement"
    )
    p.add_argument(
        "-r",
        "--requirement",
        dest="requirements",
        action="append",
        default=[],
        metavar="REQUIREMENTS",
        help="install from a requirements file (repeatable)",
    )
    _add_output(p, "APP.pyz", required=True)
    _add_signing_key(p)
    _add_entry_point(
        p,
        "entry point: the console script of that name, from any installed distribution",
        "entry point: a function",
    )
    p.add_argument("-p", "--python", metavar="INTERPRETER", help="shebang interpreter")
    p.add_argument("--compile", action="store_true", help="include bytecode for this Python")
    p.add_argument(
        "--pip-arg",
        dest="pip_args",
        action="append",
        default=[],
        metavar="ARG",
        help="pass ARG to pip install (repeatable; write --pip-arg=--no-index for options), "
        "e.g. --pip-arg=--find-links=DIR; --pip-arg=--platform=... and "
        "--pip-arg=--python-version=... build for another platform (binary wheels only)",
    )
    p.set_defaults(func=cmd_zipapp)

    p = sub.add_parser(
        "run",
        help="verify a signed zipapp completely, then run it",
        description="Verify APP.pyz, a zipapp signed by `signedimp zipapp` or "
        "`signedimp sign` (including __main__.py), and run it. "
        "Arguments after APP.pyz (and its --key options) go to the app; "
        "use -- to pass options that look like --key.",
    )
    p.add_argument("archive", metavar="APP.pyz")
    _add_trusted_keys(p)
    p.add_argument("app_args", nargs="*", metavar="ARGS", help="arguments passed to the app")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "bootstrap",
        help="print the verifier bootstrap code",
        description="Print get_bootstrap_code() for the given public keys.",
    )
    _add_trusted_keys(p)
    p.add_argument(
        "--frozen",
        action="store_true",
        help="for a freezer's runtime hook (PyInstaller) or init script (cx_Freeze)",
    )
    _add_output(p, "FILE", "write the code to FILE instead of stdout")
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser(
        "launcher",
        help="write a verified start script for a sealed environment",
        description="Write FILE: a script (interpreter run with -I -S) that installs the "
        "verifier pinned to the keys, puts the sealed folders on sys.path and runs the entry "
        "point, every import verified. Install it by a trusted path.",
    )
    _add_trusted_keys(p)
    _add_entry_point(
        p, "a console script of a distribution in the sealed folders", "the entry point", required=True
    )
    p.add_argument("--python", metavar="PYTHON", help="interpreter for the shebang (default: this one)")
    p.add_argument(
        "--path",
        metavar="DIR",
        action="append",
        default=[],
        help="a sealed folder to put on sys.path (the signed site-packages); repeatable",
    )
    _add_output(p, "FILE", required=True)
    p.set_defaults(func=cmd_launcher)

    p = sub.add_parser(
        "freeze",
        help="freeze an app with PyInstaller or cx_Freeze, verifying, sealed",
        description="Run the freezer with the frozen-app bootstrap added (PyInstaller: "
        "runtime hook; cx_Freeze: init script), then sign the output folder. "
        "Without --key (and SIGNEDIMP_KEY) a one-time key is made and thrown away, "
        "unless SIGNEDIMP_REQUIRE_KEY=1 is set (then a key is required).",
        usage="signedimp freeze {pyinstaller,cxfreeze} [--key KEY.pem] -- FREEZER_ARGS...",
    )
    p.add_argument("freezer", choices=("pyinstaller", "cxfreeze"))
    _add_signing_key(p)
    p.set_defaults(func=cmd_freeze, freezer_args=[])  # FREEZER_ARGS: split off at '--' by main()
    return parser


_RUN_KEY_OPTIONS = ("--key", "-k")


def split_run_args(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``run`` arguments into ours and the app's.

    Before the archive path, options are ours.  After it, only ``--key X`` pairs directly
    following it are ours; ``--`` or the first other token starts the app's arguments.
    """
    own: list[str] = []
    rest = list(tokens)
    archive_seen = False
    while rest:
        tok = rest[0]
        if tok == "--" and archive_seen:
            return own, rest[1:]
        if tok in _RUN_KEY_OPTIONS and len(rest) > 1:
            own += rest[:2]
            del rest[:2]
        elif tok.startswith("--key="):
            own.append(rest.pop(0))
        elif archive_seen:
            return own, rest
        elif tok == "--" and len(rest) > 1:  # an archive name that starts with "-"
            own += rest[:2]
            del rest[:2]
            archive_seen = True
        else:
            own.append(rest.pop(0))
            archive_seen = not tok.startswith("-")
    return own, []


def _count(number: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


#: The termination signals received (``_exit_cleanly_on_termination``): whatever error the
#: unwinding after one raises (a file closed under a reader, say), the exit status says signal.
_terminated: list[int] = []


def _exit_cleanly_on_termination() -> None:
    """Turn SIGTERM and SIGHUP (what ``timeout``, systemd and CI cancellation send) into
    ``SystemExit``, so that temp files and staging folders are removed as on an error.

    SIGINT still raises ``KeyboardInterrupt``, but is recorded as well: the unwinding can turn
    it into another error (an ``OSError`` from a pipe closed under a reader), and the exit
    status must still be 130, not that error's 2.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum: int, frame: object) -> None:
        _terminated.append(signum)
        raise SystemExit(128 + signum)

    def interrupt(signum: int, frame: object) -> None:
        _terminated.append(signum)
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            signal.signal(number, terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status instead of raising SystemExit."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    app_args: list[str] = []
    if args_list and args_list[0] == "run":
        own, app_args = split_run_args(args_list[1:])
        args_list = ["run", *own]
    json_errors = bool(args_list) and args_list[0] == "verify" and "--json" in args_list
    freezer_args: list[str] = []
    if args_list and args_list[0] == "freeze" and "--" in args_list:
        cut = args_list.index("--")
        args_list, freezer_args = args_list[:cut], args_list[cut + 1 :]
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except _UsageError as exc:
        return _fail(str(exc), json_errors)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "run":
        args.app_args = [*args.app_args, *app_args]
    if args.command == "freeze":
        args.freezer_args = freezer_args
    return _dispatch(args, json_errors)


def _dispatch(args: argparse.Namespace, json_errors: bool = False) -> int:
    if args.command != "run":  # an app run by `signedimp run` keeps the default signal handling
        _exit_cleanly_on_termination()
    try:
        status = _run_command(args)
    except BaseException:
        if _terminated:
            raise SystemExit(128 + _terminated[0]) from None
        raise
    if _terminated:
        return 128 + _terminated[0]
    if isinstance(status, str):
        return _fail(status, json_errors)
    return status


def _run_command(args: argparse.Namespace) -> int | str:
    """The command's exit status, or the message of a usage error (reported by the caller)."""
    try:
        return args.func(args)
    except (IntegrityCheckError, SignatureMismatch) as exc:  # refused while running an app
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except UnsafeInputError as exc:  # hostile or unreadable input (ZipFormatError too): refused
        from ._audit_report import shown

        print(f"{PROG}: refused: {shown(str(exc))}", file=sys.stderr)
        return EXIT_REFUSED
    except (CommandError, KeyFormatError) as exc:
        return str(exc)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        return str(exc) if not exc.filename else f"{exc.filename}: {exc.strerror}"
    except (ZipFormatError, ManifestError) as exc:
        return str(exc)
    except ValueError as exc:
        return str(exc)
    except OSError as exc:
        return str(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("SIGNEDIMP_DEBUG"):
            raise
        return f"internal error: {type(exc).__name__}: {exc} (set SIGNEDIMP_DEBUG=1 for a traceback)"


def _fail(message: str, json_errors: bool = False) -> int:
    """A usage error: one line on stderr, and for ``verify --json`` a JSON document on stdout too."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    if json_errors:
        import json

        print(json.dumps({"ok": False, "error": message, "exit_status": EXIT_USAGE}, indent=2))
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
