"""Exception types shared by the runtime verifier and the signing tools.

The import-time errors subclass ImportError so that code which already copes with a
missing optional module (``try: import x / except ImportError``) also fails closed on
a refused one, and so that ``importlib`` propagates them unchanged.
"""


class IntegrityCheckError(ImportError):
    """A file was refused: its bytes are not vouched for by a trusted, signed manifest.

    The message always names the module (when there is one), the file and the reason.
    """

    def __init__(self, reason: str, *, module: str | None = None, file: str | None = None) -> None:
        self.reason = reason
        self.module = module
        self.file = file
        where = []
        if module:
            where.append(f"module {module!r}")
        if file:
            where.append(f"file {file!r}")
        prefix = f"signedimp refused {', '.join(where)}: " if where else "signedimp refused: "
        super().__init__(prefix + reason, name=module, path=file)

    def __reduce__(self):  # keep pickling/copying working with keyword-only args
        return (_rebuild, (type(self), self.reason, self.module, self.file))


def _rebuild(cls, reason, module, file):
    return cls(reason, module=module, file=file)


class IntegrityCheckFailed(IntegrityCheckError):
    """The bytes or a signature do not match: something was changed (tampering or corruption)."""


class IntegrityCheckMissing(IntegrityCheckError):
    """Nothing trusted vouches for the file: no manifest, no trusted signature, or not listed."""


class ManifestError(ValueError):
    """A manifest is malformed. ``line`` is the 1-based line number, when one is to blame."""

    def __init__(self, reason: str, *, line: int | None = None, source: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.source = source
        where = source or "manifest"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {reason}")


class SignatureMismatch(ValueError):
    """A signature line names a trusted key but does not verify: the manifest was tampered with."""

    def __init__(self, fingerprint: str, source: str | None = None) -> None:
        self.fingerprint = fingerprint
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}signature by trusted key {fingerprint} does not verify (manifest tampered with)"
        )


class KeyFormatError(ValueError):
    """A key (public or private) could not be read: the message says which and why."""


class UnsafeInputError(ValueError):
    """Input refused before it could cost unbounded time or memory, or be misread.

    A file or zip member over a size limit (``signedimp.limits``), a special file (FIFO,
    socket, device), a folder nested too deep, a compression method the runtime cannot read.
    The message names the file and the reason; the command line exits 1 ("refused").
    """


class ZipFormatError(UnsafeInputError):
    """A zip archive is corrupt, truncated, or holds duplicate member names."""
