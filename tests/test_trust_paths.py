"""The standard library folders the runtime trusts by default, computed without sysconfig."""

from __future__ import annotations

import json
import sys

from .helpers import PROJECT_ROOT, run_python

CODE = """
import json, sys
import signedimp.trust as trust
before = "sysconfig" in sys.modules
fast = trust.default_trusted_paths()
import sysconfig
slow = trust.default_trusted_paths()
print(json.dumps([before, fast, slow]))
"""


def test_default_trusted_paths_match_sysconfig_without_importing_it() -> None:
    out = run_python(CODE, cwd=PROJECT_ROOT)
    before, fast, slow = json.loads(out.stdout)
    assert before is False
    assert fast == slow
    assert fast[0].endswith(f"python{sys.version_info[0]}.{sys.version_info[1]}")


def test_install_does_not_import_sysconfig() -> None:
    code = (
        "import sys, signedimp\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "print('sysconfig' in sys.modules)\n"
    )
    assert run_python(code, cwd=PROJECT_ROOT).stdout.strip() == "False"
