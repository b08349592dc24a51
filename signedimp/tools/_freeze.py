"""``signedimp freeze``: run PyInstaller or cx_Freeze with the frozen bootstrap, then seal the app.

One command per freezer, so that an app is never frozen without the verifier or shipped
unsealed: the bootstrap (``get_bootstrap_code(keys, frozen=True)``) goes in as PyInstaller's
first runtime hook or as cx_Freeze's init script, and the output folder is signed
(``sign_directory``: its archives first, then the folder). PyInstaller onefile leaves no folder
to seal: its content is inside the executable, which the operating system's signature covers
(see docs/frozen-apps.md).

Without a key a one-time Ed25519 key is made, pinned, used to sign, and dropped: nobody can
sign anything for that app again, so any later change to its folder is refused. Its
fingerprint is printed so the build log records which key the app pins.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FREEZERS", "FreezeError", "FreezeResult", "freeze"]

FREEZERS = ("pyinstaller", "cxfreeze")
HOOK_NAME = "signedimp_frozen_boot.py"


class FreezeError(ValueError):
    """Bad freezer arguments, or the freezer failed: the message says which and why."""


@dataclass
class FreezeResult:
    output: str  # the sealed folder (onedir, cx_Freeze) or the executable (onefile)
    onefile: bool
    fingerprint: str  # of the pinned key
    one_time_key: bool
    files: int  # listed in the folder's manifest (0 for onefile)


def _pyinstaller_output(args: Sequence[str]) -> tuple[str, bool]:
    """(dist path of the app, onefile?) from PyInstaller's own options."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--distpath", default="dist")
    parser.add_argument("-n", "--name")
    parser.add_argument("-F", "--onefile", action="store_true")
    parser.add_argument("-D", "--onedir", action="store_true")
    parser.add_argument("--runtime-hook", action="append")
    known, rest = parser.parse_known_args(list(args))
    scripts = [a for a in rest if a.endswith((".py", ".pyw", ".spec"))]
    if any(s.endswith(".spec") for s in scripts):
        raise FreezeError(
            "pyinstaller: a .spec file cannot take the bootstrap as --runtime-hook; "
            "pass the script and options instead (or use 'signedimp bootstrap --frozen' "
            "in the spec's runtime_hooks and 'signedimp sign' on the output folder)"
        )
    if not scripts:
        raise FreezeError("pyinstaller: no script (.py) among the arguments after '--'")
    name = known.name or os.path.splitext(os.path.basename(scripts[0]))[0]
    return os.path.abspath(os.path.join(known.distpath, name)), known.onefile


def _cxfreeze_output(args: Sequence[str]) -> tuple[list[str], str]:
    """(arguments with a --target-dir, the output folder) from cx_Freeze's options."""
    args = list(args)
    if any(a == "--init-script" or a.startswith("--init-script=") for a in args):
        raise FreezeError(
            "cxfreeze: --init-script is taken by signedimp's bootstrap (it runs the "
            "main script itself, as cx_Freeze's 'console' init script does)"
        )
    for i, arg in enumerate(args):
        if arg == "--target-dir" and i + 1 < len(args):
            return args, os.path.abspath(args[i + 1])
        if arg.startswith("--target-dir="):
            return args, os.path.abspath(arg.split("=", 1)[1])
    version = "{}.{}".format(*sys.version_info[:2])
    target = os.path.join("build", f"exe.{sysconfig.get_platform()}-{version}")
    return ["--target-dir", target, *args], os.path.abspath(target)


#: The module each freezer runs as (``python -m``) and the distribution that installs it.
FREEZER_MODULES = {"pyinstaller": ("PyInstaller", "pyinstaller"), "cxfreeze": ("cx_Freeze", "cx-Freeze")}


def _raise_if_not_installed(freezer: str, python: str) -> None:
    """After a failed run: a FreezeError that says how to install the freezer when ``python``
    does not have it (asked only then: the question costs a process)."""
    module, distribution = FREEZER_MODULES[freezer]
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 3)"
    try:
        missing = subprocess.run([python, "-I", "-c", probe], capture_output=True, timeout=60).returncode == 3
    except (OSError, subprocess.SubprocessError):
        return
    if missing:
        raise FreezeError(
            f"{freezer}: {module} is not installed for {python} (install it with"
            f" `{python} -m pip install 'hatch-signedimp[freeze]'`, or `pip install {distribution}`)"
        )


def freeze(
    freezer: str, freezer_args: Sequence[str], key: Any = None, *, python: str | None = None, stdout=None
) -> FreezeResult:
    """Freeze with ``freezer`` (``pyinstaller`` / ``cxfreeze``), the bootstrap added; seal the output.

    ``key``: a signing key (``PrivateKey``); None makes a one-time key. ``python``: the
    interpreter that has the freezer installed (default: this one).
    """
    from . import generate_key, sign_directory
    from ._bootstrap import get_bootstrap_code

    if freezer not in FREEZERS:
        raise FreezeError(f"freeze: unknown freezer {freezer!r} (choose from {', '.join(FREEZERS)})")
    one_time = key is None
    if one_time:
        key = generate_key("ed25519")
    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="signedimp-freeze-") as tmp:
        hook = os.path.join(tmp, HOOK_NAME)
        with open(hook, "w", encoding="utf-8") as fh:
            fh.write(get_bootstrap_code(key, frozen=True, bytecode=True))
        if freezer == "pyinstaller":
            output, onefile = _pyinstaller_output(freezer_args)
            command = [python, "-m", "PyInstaller", "--runtime-hook", hook, *freezer_args]
        else:
            args, output = _cxfreeze_output(freezer_args)
            onefile = False
            command = [python, "-m", "cx_Freeze", "--init-script", hook, *args]
        result = subprocess.run(command, stdout=stdout)
        if result.returncode != 0:
            _raise_if_not_installed(freezer, python)
            raise FreezeError(f"{freezer} failed (exit status {result.returncode}): {' '.join(command)}")
    if onefile:
        if not os.path.isfile(output):
            raise FreezeError(f"{freezer} finished but {output} is not there")
        files = 0
    else:
        if not os.path.isdir(output):
            raise FreezeError(f"{freezer} finished but its output folder {output} is not there")
        files = len(sign_directory(output, key).hashes)
    fingerprint = key.public_key.fingerprint
    del key  # a one-time key lives no longer than this call
    return FreezeResult(output, onefile, fingerprint, one_time, files)
