"""The start of a frozen app's bootstrap: which modules it preloads, decided in the app.

Like ``_bootstrap_frozen_run.py``, a real module whose text below the ``EMBEDDED`` marker the
generator (``_bootstrap.get_bootstrap_code(frozen=True)``) copies verbatim, here to the top level
before ``_signedimp_bootstrap``, whose ``preload`` adds what this returns.
"""

from __future__ import annotations

# ---- EMBEDDED: everything below this line is the bootstrap's fixed text ----


def _signedimp_frozen_preload():
    """``("hashlib",)`` where the app hashes what it loads (PyInstaller onedir, cx_Freeze), else ().

    Imported before the pinned keys' fingerprints are taken (which would otherwise load
    ``_sha2`` for them, to be checked at start-up too). A PyInstaller onefile app trusts the
    folder it extracts itself to, ``_MEIxxxxxx``, and may never hash anything: it does not load
    OpenSSL (3 to 4 ms) for nothing. A wrong guess costs time, never safety: ``frozen.install``
    imports hashlib before the manager wherever the app hashes.
    """
    import sys

    contents = (getattr(sys, "_MEIPASS", None) or "").replace("\\", "/").rstrip("/")
    return () if contents.rpartition("/")[2].startswith("_MEI") else ("hashlib",)
