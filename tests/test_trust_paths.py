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


SYMLINKED_STDLIB = """
import sys, sysconfig
import signedimp
sys.path.insert(0, sys.argv[1])
with signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]):
    import colorsys
    print(colorsys.__file__ == sysconfig.get_paths()["stdlib"] + "/colorsys.py")
"""


def test_a_sys_path_entry_that_is_a_symlink_to_the_standard_library_is_trusted(tmp_path) -> None:
    # DESIGN.md: trust is decided on resolved paths. The path hook asked about the entry with
    # its last component unresolved (untrusted) while the verifier's own standard-library
    # search asked about its files (trusted): every import ended in a RecursionError.
    import sysconfig

    link = tmp_path / "stdlib-link"
    link.symlink_to(sysconfig.get_paths()["stdlib"], target_is_directory=True)
    out = run_python(SYMLINKED_STDLIB, str(link), cwd=PROJECT_ROOT)
    assert (out.returncode, out.stdout, out.stderr[-300:]) == (0, "True\n", "")
