"""The code of a launcher that ``signedimp launcher`` writes: copied verbatim after the bootstrap.

It is a real module (linted, type-checked, tested) read as text by ``_launcher.py``; only the call
at the end of a launcher is generated. When it runs, the bootstrap has already installed the
verifier pinned to the deployer's keys, and the interpreter was started with ``-I -S`` (no
``site``, so no ``.pth`` file or ``sitecustomize`` of the sealed folders ran first). Then it:

1. resolves the sealed folders (symlinks too) and refuses any that holds no manifest signed by a
   pinned key, before anything is imported from them;
2. puts them on ``sys.path``, after the manager is installed, so every import from them is verified;
3. finds the entry point: ``pkg.mod:fn`` as given, or a console script looked up in the
   ``*.dist-info/entry_points.txt`` files of the folders, each read through the verifier;
4. imports the module (verified) and calls the function, exiting with its result.

Every refusal is one line on stderr, ``signedimp: refusing to run ...``, and exit status 1.
"""

# No ``from __future__`` import (this text follows the bootstrap in the launcher) and no typing
# import at run time: start-up time is the launcher's cost.
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn


def _signedimp_refuse(message: str, status: int = 1) -> "NoReturn":
    sys.stderr.write(f"signedimp: refusing to run {sys.argv[0]}: {message}\n")
    raise SystemExit(status)


def _signedimp_sealed_folders(manager: "Any", folders: "tuple[str, ...]") -> "list[str]":
    """The folders, resolved; each must exist and carry at least one manifest a pinned key signed."""
    import os

    resolved = []
    for folder in folders:
        real = os.path.realpath(folder)
        if not os.path.isdir(real):
            _signedimp_refuse(f"the sealed folder {folder} does not exist")
        root = manager.root(real)
        root.is_listed("")  # reads and checks the folder's manifests once
        if not root.manifests:
            problems = "; ".join([*root._tampered, *root._untrusted]) or "no signedimp-manifest.txt"
            _signedimp_refuse(f"{folder} is not sealed by a pinned key ({problems})")
        resolved.append(real)
    return resolved


def _signedimp_console_script(manager: "Any", folders: list[str], name: str) -> str:
    """``pkg.mod:fn`` of console script ``name``, from verified ``entry_points.txt`` files."""
    import configparser
    import os

    for folder in folders:
        root = manager.root(folder)
        for entry in sorted(os.listdir(folder)):
            rel = f"{entry}/entry_points.txt"
            if not entry.endswith(".dist-info") or not root.is_listed(rel):
                continue  # an unlisted file vouches for nothing
            text = root.read_verified(rel).decode("utf-8")
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(text, source=os.path.join(folder, rel))
            if parser.has_option("console_scripts", name):
                return parser.get("console_scripts", name).split("[", 1)[0].strip()
    _signedimp_refuse(f"no console script {name!r} in a signed entry_points.txt of {', '.join(folders)}", 2)


def _signedimp_launch(
    manager: "Any", folders: "tuple[str, ...]", script: "str | None", entry: "str | None"
) -> None:
    """Put the sealed folders on ``sys.path`` and run the entry point, every import verified."""
    errors = sys.modules["signedimp"].errors
    # OSError: a file the manifest lists is missing or unreadable; refused the same way
    refusals = (ImportError, OSError, errors.ManifestError, errors.SignatureMismatch, errors.ZipFormatError)
    try:
        resolved = _signedimp_sealed_folders(manager, folders)
        sys.path.extend(p for p in resolved if p not in sys.path)
        if script is not None:
            entry = _signedimp_console_script(manager, resolved, script)
        assert entry is not None
        module_name, _, function = entry.partition(":")
        import importlib

        target: Any = importlib.import_module(module_name.strip())
        for attribute in function.strip().split("."):
            target = getattr(target, attribute)
    except refusals as exc:
        _signedimp_refuse(str(exc))
    try:
        result = target()
    except errors.IntegrityCheckError as exc:  # a lazy import inside the app was refused
        _signedimp_refuse(str(exc))
    raise SystemExit(result)
