"""``importlib.metadata`` under a manager: distributions below untrusted roots come from verified files.

``importlib.metadata`` asks every ``sys.meta_path`` finder's ``find_distributions``. Without
this module the stock ``PathFinder`` answers for every ``sys.path`` entry, so an unsigned
``.dist-info`` dropped into a plugin folder could claim any version and add entry points that
plugin hosts then import. Under a manager:

- the manager itself (first on ``sys.meta_path``) yields, for each untrusted entry, the
  ``*.dist-info`` / ``*.egg-info`` folders whose ``METADATA`` / ``PKG-INFO`` a valid manifest of
  that entry lists; every file they read goes through the manifest (unlisted: absent;
  modified: ``IntegrityCheckFailed``);
- the finders behind it (wrapped by the manager) keep only what lies below trusted paths.

``importlib.metadata`` is heavy to import; nothing here imports it until something asks for
distributions, by which time the caller has imported it already.
"""

from __future__ import annotations

import os
import sys

from .errors import IntegrityCheckMissing

__all__ = ["find_verified_distributions", "vetted_distributions"]

_METADATA_FILES = ((".dist-info", "METADATA"), (".egg-info", "PKG-INFO"))
_distribution_class = None


def find_verified_distributions(manager, context=None):
    """Distributions in untrusted ``sys.path`` entries whose metadata a trusted manifest lists."""
    name = getattr(context, "name", None)
    paths = getattr(context, "path", None)
    wanted = None if name is None else _normalise(name)
    is_trusted = manager._trust.is_trusted
    for entry in sys.path if paths is None else paths:
        if not isinstance(entry, str):
            continue
        entry = os.path.abspath(entry or os.curdir)
        if is_trusted(entry):
            continue  # the stock finders answer for trusted folders
        root = manager.root(entry)
        try:
            names = root.entry.listdir("")
        except (OSError, ValueError):
            continue
        for folder in names:
            for suffix, metadata_file in _METADATA_FILES:
                if not folder.endswith(suffix):
                    continue
                if wanted is not None and _normalise(folder[: -len(suffix)].partition("-")[0]) != wanted:
                    continue
                if root.is_listed(f"{folder}/{metadata_file}"):
                    yield _verified_distribution_class()(root, folder)


def vetted_distributions(manager, finder, args, kwargs):
    """``finder.find_distributions(...)`` without the distributions below untrusted roots."""
    find = getattr(finder, "find_distributions", None)
    if find is None:
        return
    is_trusted = manager._trust.is_trusted
    for dist in find(*args, **kwargs):
        location = getattr(dist, "_path", None)
        if location is not None and is_trusted(os.fspath(str(location))):
            yield dist


def _normalise(name: str) -> str:
    """PEP 503 normalisation, with underscores (as ``importlib.metadata`` compares names)."""
    out, previous = [], False
    for char in name.lower():
        separator = char in "-_."
        if not (separator and previous):
            out.append("_" if separator else char)
        previous = separator
    return "".join(out)


def _verified_distribution_class():
    """``VerifiedDistribution``, defined on first use so that ``install()`` never imports
    ``importlib.metadata``."""
    global _distribution_class
    if _distribution_class is None:
        import importlib.metadata
        import pathlib

        class VerifiedDistribution(importlib.metadata.Distribution):
            """A distribution whose files are read through a root's manifests."""

            def __init__(self, root, folder: str) -> None:
                self._root = root
                self._folder = folder

            def __repr__(self) -> str:
                return f"<VerifiedDistribution {self._root.entry.display(self._folder)!r}>"

            def read_text(self, filename):
                """The file's text if a trusted manifest lists it; None if nothing vouches for it."""
                rel = f"{self._folder}/{filename}"
                if not self._root.entry.is_file(rel):
                    return None  # listed but gone: absent, as for any distribution
                try:
                    data = self._root.read_verified(rel)
                except IntegrityCheckMissing:
                    return None  # unlisted (added, or RECORD of a wheel): as good as absent
                return data.decode("utf-8")

            def locate_file(self, path):
                """Where ``path`` is, as the stock distributions locate it: a file-system path
                below a folder, a ``zipfile.Path`` in an archive (``files()`` keeps only what
                ``locate().exists()``; a file-system path below an archive never exists)."""
                entry = self._root.entry
                archive = getattr(entry, "archive", None)
                if archive is None:
                    return pathlib.Path(entry.display(str(path)))
                root = self.__dict__.get("_zip_root")
                if root is None:
                    import zipfile  # loaded already: importlib.metadata imports it

                    root = self._zip_root = zipfile.Path(archive.archive, at=entry.prefix)
                return root.joinpath(str(path))

            @property
            def _path(self):
                """The metadata folder, as ``PathDistribution`` has it: tools such as pip take
                name and version from its name (reading nothing) and would otherwise parse
                ``METADATA`` with the ``email`` package again and again (pip list: 7 times each).
                Only where the folder is; its files are still read through ``read_text``."""
                return pathlib.Path(self._root.entry.display(self._folder))

            @property
            def _normalized_name(self):
                return _normalise(self._folder.rpartition(".")[0].partition("-")[0])

        _distribution_class = VerifiedDistribution
    return _distribution_class
