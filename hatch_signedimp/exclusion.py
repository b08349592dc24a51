"""Keep the private key file out of every artifact the project builds.

Hatchling's public hook interface has no way to exclude a file, so the hook does not try: it
looks for the key's bytes in the finished sdist or wheel, and a key that got in (a key file
inside the project that is neither excluded nor ignored, ``force-include``) deletes the artifact
and fails the build with the lines that exclude it. Only members of exactly the key's size are
read, so the check costs a listing, not a decompression.
"""

from __future__ import annotations

import os


def relative_to_root(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` when it lies inside the project, else ``None``."""
    try:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    except ValueError:  # another drive on Windows
        return None
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    return rel


def exclude_hint(target: str, relative_path: str) -> str:
    """The pyproject lines that exclude the key file from ``target`` by hand."""
    pattern = "/" + relative_path.replace(os.sep, "/")
    return f'[tool.hatch.build.targets.{target}]\nexclude = ["{pattern}"]'


def find_key_in_artifact(artifact: str, secret: bytes, name: str | None = None) -> str | None:
    """The member of a ``.tar.gz`` or ``.whl`` whose bytes are ``secret``, if any; ``name`` (the
    artifact's final name, when it is read under another) tells which kind it is."""
    import tarfile  # only when an artifact is checked: keeps plugin discovery cheap
    import zipfile

    size = len(secret)
    kind = name or artifact
    if kind.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(artifact) as tar:
            for member in tar:
                if member.isfile() and member.size == size:
                    f = tar.extractfile(member)
                    if f is not None and f.read() == secret:
                        return member.name
    elif kind.endswith((".whl", ".zip")):
        with zipfile.ZipFile(artifact) as archive:
            for info in archive.infolist():
                if info.file_size == size and archive.read(info) == secret:
                    return info.filename
    return None
