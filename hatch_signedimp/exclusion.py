"""Keep the private key file out of every artifact the project builds.

Hatchling has no API for a hook to exclude a file, but it skips "reserved" distribution paths
while it walks the project (the mechanism behind ``force-include``); the hook reserves the key
file's path before the build. As a backstop, :func:`find_key_in_artifact` looks for the key's
bytes in the finished sdist or wheel, so a key that slipped in anyway (``force-include``, an older
hatchling) fails the build instead of shipping.
"""

from __future__ import annotations

import os
from typing import Any


def relative_to_root(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` when it lies inside the project, else ``None``."""
    try:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    except ValueError:  # another drive on Windows
        return None
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    return rel


def reserve_path(build_config: Any, relative_path: str) -> bool:
    """Make hatchling skip ``relative_path`` in this build; ``False`` when it cannot be done."""
    reserved = getattr(build_config, "build_reserved_paths", None)
    if not isinstance(reserved, set):
        return False
    reserved.add(build_config.get_distribution_path(relative_path))
    return True


def exclude_hint(target: str, relative_path: str) -> str:
    """The pyproject lines that exclude the key file from ``target`` by hand."""
    pattern = "/" + relative_path.replace(os.sep, "/")
    return f'[tool.hatch.build.targets.{target}]\nexclude = ["{pattern}"]'


def find_key_in_artifact(artifact: str, secret: bytes) -> str | None:
    """The member of a ``.tar.gz`` or ``.whl`` whose bytes are ``secret``, if any.

    Only members of exactly the secret's size are read, so this costs a listing, not a decompression.
    """
    import tarfile  # only when an artifact is checked: keeps plugin discovery cheap
    import zipfile

    size = len(secret)
    if artifact.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(artifact) as tar:
            for member in tar:
                if member.isfile() and member.size == size:
                    f = tar.extractfile(member)
                    if f is not None and f.read() == secret:
                        return member.name
    elif artifact.endswith((".whl", ".zip")):
        with zipfile.ZipFile(artifact) as archive:
            for info in archive.infolist():
                if info.file_size == size and archive.read(info) == secret:
                    return info.filename
    return None
