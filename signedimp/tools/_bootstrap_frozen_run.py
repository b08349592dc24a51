"""The end of a frozen app's bootstrap: cx_Freeze's ``run(name)``, as a real module.

cx_Freeze runs an init script's ``run(name)`` with the main script's module name; this one
does the stock "console" init script's job after the verifier is installed, so the main script
is read from ``library.zip`` through the verifier. PyInstaller ignores it. The generator
(``_bootstrap.get_bootstrap_code(frozen=True)``) appends everything below the ``EMBEDDED``
marker verbatim, at the top level of the bootstrap text.
"""

from __future__ import annotations

# ---- EMBEDDED: everything below this line is the bootstrap's fixed text ----


def run(name):
    """cx_Freeze: run the main script ``name`` (verified like every module of the app)."""
    import importlib.util
    import sys

    sys.frozen = True  # type: ignore[attr-defined]  # what cx_Freeze's own init script sets
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise SystemExit("signedimp refused to start: main script %r not found" % name)
    code = spec.loader.get_code(name)  # type: ignore[attr-defined]  # the verifying loader
    main = sys.modules["__main__"]
    main.__dict__.update(__file__=spec.origin, __loader__=spec.loader, __spec__=spec)
    exec(code, main.__dict__)
