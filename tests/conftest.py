"""Test-session settings shared by every module.

Heavy tests (``@pytest.mark.heavy``: real packages from PyPI, freezers) run everywhere unless
``SIGNEDIMP_SKIP_HEAVY=1``; ``make test`` sets it on all interpreters of the matrix but one, so
the slow, version-independent proofs run once per CI run.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SIGNEDIMP_SKIP_HEAVY") != "1":
        return
    skip = pytest.mark.skip(
        reason="heavy test: run on one interpreter of the matrix (SIGNEDIMP_SKIP_HEAVY=1)"
    )
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_manager_left_installed():
    """A test that leaves a manager (and so the process-wide guard) active in the test process
    would make later tests' imports fail far from the cause: fail the test that leaks."""
    import sys

    guard = sys.modules.get("signedimp.guard")
    before = guard.active_owners() if guard is not None else []
    yield
    guard = sys.modules.get("signedimp.guard")
    if guard is not None:
        left = [owner for owner in guard.active_owners() if owner not in before]
        for owner in left:
            owner.uninstall()
        assert not left, f"the test left {left} installed"
