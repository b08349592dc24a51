"""``TrustPolicy``: the per-folder cache answers exactly what resolving every path would.

The manager and the guard ask the policy about every module file, so it caches, per folder,
the resolved form and whether the folder's entries are trusted. These tests compare it, cold
and warm, with the rule written out plainly (resolve the folder part, then compare prefixes,
an install folder on the way making it untrusted, a path naming a trusted root trusted).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from signedimp.trust import INSTALL_FOLDERS, TrustPolicy, _resolve_all

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symlinks and POSIX paths")


def reference(trusted: list[str], path: str) -> bool:
    """The rule, without caches: the folder part resolved, the last component kept."""
    head, tail = os.path.split(path)
    real = os.path.realpath(path) if tail in ("", ".", "..") else os.path.join(os.path.realpath(head), tail)
    for root in (os.path.realpath(t) for t in trusted):
        if real == root:
            return True
        prefix = root.rstrip(os.sep) + os.sep
        if real.startswith(prefix) and not INSTALL_FOLDERS.intersection(real[len(prefix) :].split(os.sep)):
            return True
    return False


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for folder in (
        "std/pkg/sub",
        "std/site-packages/inst",
        "std/pkg/dist-packages",
        "std/lib-dynload",
        "other/pkg",
        "venv/lib/site-packages/app",
    ):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "std/pkg/mod.py").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "std")
    (tmp_path / "other/up").symlink_to(tmp_path)
    (tmp_path / "std/pkg/out").symlink_to(tmp_path / "other")
    (tmp_path / "other/evil.py").symlink_to(tmp_path / "std/pkg/mod.py")
    return tmp_path


def candidates(base: Path) -> list[str]:
    b = str(base)
    names = []
    for folder in (
        "std",
        "std/pkg",
        "std/pkg/sub",
        "std/site-packages",
        "std/site-packages/inst",
        "std/pkg/dist-packages",
        "std/lib-dynload",
        "link",
        "link/pkg",
        "link/site-packages",
        "other",
        "other/pkg",
        "other/up/std/pkg",
        "other/up/other",
        "std/pkg/out",
        "std/pkg/out/up/std/pkg",
        "std/pkg/sub/../../site-packages",
        "std/pkg/sub/..",
        "venv/lib/site-packages",
        "venv/lib/site-packages/app",
        "",
    ):
        path = f"{b}/{folder}" if folder else b
        names += [path, f"{path}/mod.py", f"{path}/site-packages", f"{path}/.", f"{path}/..", f"{path}/"]
    names += [f"{b}/other/evil.py", f"{b}/std/pkg/out/evil.py"]
    return names


@pytest.mark.parametrize(
    "roots",
    [
        ["std"],
        ["std", "std/site-packages"],  # a root inside an install folder, named by the caller
        ["link/pkg", "other/pkg"],
        ["venv/lib/site-packages/app"],
        ["std", "std/lib-dynload", "std/missing.zip"],  # the defaults' shape: folders shared
        ["std/pkg/out/up/std/pkg", "std/pkg/sub/..", "other/up/other"],
        [],
    ],
)
def test_cached_answers_match_the_rule(tree: Path, roots: list[str]) -> None:
    trusted = [str(tree / r) for r in roots]
    policy = TrustPolicy(trusted)
    paths = candidates(tree)
    expected = [reference(trusted, p) for p in paths]
    assert [policy.is_trusted(p) for p in paths] == expected  # cold
    assert [policy.is_trusted(p) for p in paths] == expected  # every folder cached now
    assert [policy.is_trusted(p) for p in reversed(paths)] == expected[::-1]
    assert any(expected) == bool(roots)


def test_a_root_that_names_an_install_folder_is_trusted_itself(tree: Path) -> None:
    std, site = str(tree / "std"), str(tree / "std/site-packages")
    policy = TrustPolicy([std, site])
    assert policy.is_trusted(f"{std}/pkg/mod.py")  # caches the folder std as trusted
    assert policy.is_trusted(site)  # an install folder, but a root
    assert policy.is_trusted(f"{site}/inst")
    assert not TrustPolicy([std]).is_trusted(site)


def test_a_retargeted_link_is_seen_after_invalidate_caches(tree: Path) -> None:
    policy = TrustPolicy([str(tree / "std")])
    path = f"{tree}/link/pkg/mod.py"
    assert policy.is_trusted(path)
    (tree / "link").unlink()
    (tree / "link").symlink_to(tree / "other")
    assert policy.is_trusted(path)  # cached: the manager loads it from the resolved path
    assert policy.resolve(path) == f"{tree}/std/pkg/mod.py"
    policy.invalidate_caches()
    assert not policy.is_trusted(path)
    assert policy.resolve(path) == f"{tree}/other/pkg/mod.py"


def test_relative_paths_are_resolved_against_the_current_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = TrustPolicy([str(tree / "std")])
    monkeypatch.chdir(tree / "std")
    assert policy.is_trusted("pkg/mod.py")
    monkeypatch.chdir(tree / "other")
    assert not policy.is_trusted("pkg/mod.py")  # never cached: it depends on the folder


def test_roots_resolved_together_match_realpath(tree: Path) -> None:
    """``_resolve_all`` looks at each component once for all the roots; each result, and each
    folder it resolved on the way (those seed the policy's cache), is what ``realpath`` says."""
    paths = [p.rstrip("/") or "/" for p in candidates(tree)] + ["/", "relative/x", f"{tree}//std"]
    results = _resolve_all(paths)
    assert [real for real, _ in results] == [os.path.realpath(p) for p in paths]
    folders = {given: real for _, seen in results for given, real in seen.items()}
    assert f"{tree}/std/lib-dynload" in folders  # the usual case takes the quick way
    assert {given: os.path.realpath(given) for given in folders} == folders
