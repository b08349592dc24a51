"""What the signing tools import, and when (#13: the build hook pays every import in every build).

`import signedimp.tools` imports no tool module until a name is used; the build hook's names
(the key readers, `sign_wheel`) bring no audit, folder signing, frozen-app or zipapp code; and
hatchling's plugin scan, which imports every installed `hatch` plugin in every build that uses
any third-party hook, imports nothing of `signedimp` through this plugin.
"""

from __future__ import annotations

import json

import pytest

from .helpers import PROJECT_ROOT, run_python

NEW_MODULES = r"""
import json, sys
before = set(sys.modules)
exec(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _added(code: str, prelude: str = "") -> list[str]:
    proc = run_python(prelude + NEW_MODULES, code, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_importing_the_package_imports_no_tool_module() -> None:
    added = _added("import signedimp.tools")
    assert "signedimp.tools" in added
    assert [m for m in added if m.startswith("signedimp.tools.")] == []


def test_the_build_hooks_names_bring_no_other_tools() -> None:
    added = _added(
        "from signedimp.tools import sign_wheel\n"
        "from signedimp.tools._key_files import key_from_env, parse_signing_key, read_key_file\n"
    )
    tools = {m.rpartition(".")[2] for m in added if m.startswith("signedimp.tools.")}
    assert "_archive_signing" in tools and "_key_files" in tools
    assert not tools & {
        "_audit",
        "_audit_report",
        "_directory_signing",
        "_tree_digests",
        "_frozen_signing",
        "_zipapp",
        "cli",
    }
    assert not [m for m in added if m.split(".")[0] in ("Crypto", "zipfile", "csv", "tempfile")]


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("sign_directory", "signedimp.tools._directory_signing"),
        ("sign_path", "signedimp.tools._directory_signing"),
        ("verify_path", "signedimp.tools._audit"),
        ("PrivateKey", "signedimp.tools._signing_keys"),
        ("build_zipapp", "signedimp.tools._zipapp"),
        ("MANIFEST_NAME", "signedimp.manifest"),
    ],
)
def test_every_public_name_is_there_on_first_use(name: str, module: str) -> None:
    import importlib

    from signedimp import tools

    value = getattr(tools, name)
    assert value is getattr(importlib.import_module(module), name)
    assert name in dir(tools)


def test_unknown_name_is_an_attribute_error() -> None:
    from signedimp import tools

    with pytest.raises(AttributeError, match="no attribute 'sign_everything'"):
        tools.sign_everything  # noqa: B018


def test_hatchlings_plugin_scan_imports_nothing_of_signedimp() -> None:
    prelude = "import hatchling.build, hatchling.builders.wheel\nfrom hatchling.plugin.manager import PluginManager\n"
    added = _added("import hatch_signedimp.hooks", prelude)
    assert "hatch_signedimp.plugin" in added
    assert [m for m in added if m.split(".")[0] not in ("hatch_signedimp", "hatchling")] == []


def test_key_source_records_are_immutable_values() -> None:
    from hatch_signedimp.keysource import KeyDecision, KeySource

    source = KeySource("environment variable SIGNEDIMP_KEY", b"pem")
    assert source == KeySource("environment variable SIGNEDIMP_KEY", b"pem", None)
    assert hash(source) == hash(KeySource("environment variable SIGNEDIMP_KEY", b"pem"))
    assert source != KeySource("key file k.pem", b"pem", "k.pem")
    assert (
        repr(source) == "KeySource(description='environment variable SIGNEDIMP_KEY', pem=b'pem', path=None)"
    )
    with pytest.raises(AttributeError):
        source.pem = b"other"  # type: ignore[misc]
    decision = KeyDecision(unsigned_reason="no key")
    assert (decision.source, decision.key, decision.unsigned_reason) == (None, None, "no key")
