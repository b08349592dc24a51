"""The ``__main__.py`` of a signed zipapp: verify the archive, then run the app through the hook.

``signedimp zipapp`` reads this file as source text and writes it into the archive as its
``__main__.py``, replacing only the block between the two ``signedimp-generated`` marker lines
with the verifier bootstrap (``get_bootstrap_code`` or ``split_bootstrap``: the pinned keys and
the runtime payload) and the ``ENTRY`` literal. Everything else here runs verbatim in every
zipapp, at every start, so at module level it imports nothing but ``sys`` (built in): it runs
before verification exists. What its functions import later (``importlib``, ``runpy``, ``code``)
is standard library, which the manager trusts; the app's own modules come through the hook.

Imported as a normal module (tests, linters), the stand-ins in the block are used instead.
"""

import sys

# >>> signedimp-generated: bootstrap and entry point (replaced when a zipapp is built)
#: The manager the bootstrap installed (the bootstrap text binds this name).
_signedimp_manager = None
#: ``("call", module, attribute path)``, ``("run", module)`` (a folder's own ``__main__.py``) or
#: ``("python",)`` (no entry point: an interpreter with the archive's contents importable).
ENTRY = ("call", "example.cli", "main")
# <<< signedimp-generated

MANIFEST = "signedimp-manifest.txt"


def check_archive(manager, archive):
    """Fail fast: the manifest must be signed by a pinned key and vouch for every entry.

    Extension modules and the libraries bundled beside them are members like any other: listed,
    and checked again byte for byte when they are loaded.
    """
    if not hasattr(manager, "root"):
        return  # another signedimp version runs this process; its hook still checks every import
    root = manager.root(archive)
    here = globals().get("__file__") or ""
    ran = "__main__.pyc" if here.endswith("c") else "__main__.py"  # what zipimport executed
    root.read_verified(ran, "__main__")  # corruption and partial tampering show up here
    names = getattr(root.entry, "archive", None)
    names = names.names if names is not None else ()
    unlisted = sorted(_unlisted(root, names))
    errors = sys.modules["signedimp"]
    check_prefix(root, archive, errors)
    if unlisted:
        raise errors.IntegrityCheckMissing(
            f"{len(unlisted)} entries are not listed in the signed manifest (added): {_some(unlisted)}",
            file=archive,
        )
    listed: set[str] = set()
    for manifest in root.manifests:
        listed.update(manifest.hashes)  # a thousand paths: one call, not a loop in Python
    if MANIFEST not in names:  # dist-info manifests decide: their .data/ files are wheel-only paths
        listed = {path for path in listed if not path.partition("/")[0].endswith(".data")}
    listed.discard(getattr(getattr(errors, "zipdir", None), "PREFIX_NAME", None))  # not a member
    absent = sorted(listed.difference(names))
    if absent:
        raise errors.IntegrityCheckFailed(
            f"{len(absent)} entries listed in the signed manifest are missing (removed): {_some(absent)}",
            file=archive,
        )


def _unlisted(root, names):
    """The members of ``names`` (``MANIFEST`` aside) that no valid manifest of ``root`` lists.

    A signed archive's usual case, its root manifest alone deciding for the whole archive, is a
    set difference; any other (``.dist-info`` manifests, which may disagree) asks the root
    about each name.
    """
    manifests = list(getattr(root, "manifests", []))
    if MANIFEST in names and getattr(root.entry, "prefix", None) == "" and len(manifests) == 1:
        return names.difference(manifests[0].hashes, (MANIFEST,))
    return [n for n in names if n != MANIFEST and not root.is_listed(n)]


def check_prefix(root, archive, errors):
    """The bytes before the first member (the ``#!`` line ``./app.pyz`` hands to the kernel,
    any preamble) must hash to what the signed manifest lists under ``zipdir.PREFIX_NAME``.

    An archive signed before prefixes were signed lists none: accepted only without a prefix.
    """
    zipdir = getattr(errors, "zipdir", None)
    zip_archive = getattr(root.entry, "archive", None)
    if zipdir is None or not hasattr(zipdir, "PREFIX_NAME") or zip_archive is None:
        return  # another signedimp version runs this process, or not a zip
    name = zipdir.PREFIX_NAME
    if name in zip_archive.names:
        raise errors.IntegrityCheckFailed(f"a member is named {name}, reserved for the prefix", file=archive)
    size = zip_archive.prefix_size
    what = f"the archive prefix (the {size} bytes before the first member: shebang, preamble)"
    listed = {manifest.hashes[name] for manifest in root.manifests if name in manifest.hashes}
    if not listed:
        if size:
            raise errors.IntegrityCheckMissing(
                f"{what} is not covered by the signature: re-sign it", file=archive
            )
        return
    import hashlib

    digest = hashlib.sha256()
    with zipdir.open_archive(archive) as stream:
        for chunk in zipdir.prefix_chunks(stream, size, archive):
            digest.update(chunk)
    if listed != {digest.hexdigest()}:
        raise errors.IntegrityCheckFailed(f"{what} does not match the signed manifest", file=archive)


def _some(names, limit=5):
    """The first ``limit`` names, comma-separated, with `` ...`` when there are more."""
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def call(module, attributes):
    """Import ``module`` (verified) and exit with what its ``attributes`` callable returns."""
    import importlib

    target = importlib.import_module(module)
    for attribute in attributes.split("."):
        target = getattr(target, attribute)
    sys.exit(target())  # type: ignore[operator]


def run_module(name):
    """Run a folder's own ``__main__.py`` (renamed ``name`` in the archive) as ``__main__``."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"the app's own __main__ ({name}) is missing from the archive", name=name)
    code = spec.loader.get_code(name)  # type: ignore[attr-defined]
    main = type(sys)("__main__")
    main.__file__ = spec.origin
    main.__loader__ = spec.loader
    main.__spec__ = spec
    main.__dict__["__builtins__"] = __builtins__
    launcher = sys.modules["__main__"]  # keeps this module's globals alive while the app runs
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        del launcher


USAGE = "usage: {0} [-m MODULE [ARG...] | -c CODE [ARG...]]  (no argument: interactive)\n"


def python(archive):
    """No entry point (as shiv and pex do): run ``-m MODULE`` or ``-c CODE``, or read Python
    interactively, with every import from the archive verified."""
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-m":
        import runpy

        sys.argv = args[1:]  # runpy puts the module's file name in sys.argv[0]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(args[1], "<string>", "exec"), namespace)
    elif not args and not sys.stdin.isatty():  # as python does: a script on standard input
        sys.argv = [""]
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(sys.stdin.read(), "<stdin>", "exec"), namespace)
    elif not args:
        import code

        banner = f"Python {sys.version.split()[0]}: {archive} is on sys.path, its modules verified"
        code.interact(banner=banner, local={"__name__": "__main__"}, exitmsg="")
    else:
        sys.stderr.write(USAGE.format(archive))
        sys.exit(2)


def archive_path(namespace):
    """The archive: zipimport's (running from ``__main__.pyc`` or ``.py``) or, under
    ``signedimp run``, the folder part of ``__file__`` (``.../app.pyz/__main__.py``)."""
    loader = namespace.get("__loader__")
    archive = getattr(loader, "archive", None)
    if archive:
        return archive
    here = namespace["__file__"]
    return here[: max(here.rfind("/"), here.rfind("\\"))]


def main(manager, entry):
    """Check the archive, then run ``entry``; refusals are one line on stderr and exit status 1."""
    errors = sys.modules["signedimp"].errors
    refusals = (ImportError, errors.ManifestError, errors.SignatureMismatch, errors.ZipFormatError)
    archive = archive_path(globals())
    try:
        check_archive(manager, archive)
    except refusals as exc:
        sys.stderr.write(f"signedimp: refusing to run {archive}: {exc}\n")
        sys.exit(1)
    try:
        if entry[0] == "run":
            run_module(entry[1])
        elif entry[0] == "python":
            python(archive)
        else:
            call(entry[1], entry[2])
    except errors.IntegrityCheckError as exc:
        message = str(exc)
        prefix = "" if message.startswith("signedimp") else "signedimp: "
        sys.stderr.write(prefix + message + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main(_signedimp_manager, ENTRY)
