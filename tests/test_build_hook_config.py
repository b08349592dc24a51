"""The build hook's own parts: registration, option validation, key discovery, sdist, editable.

Most of these need no signing at all, so they run even before (or without) the signing tools;
everything that builds does so for real, in a subprocess.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from hatch_signedimp.config import HookOptions
from hatch_signedimp.errors import ConfigurationError
from hatch_signedimp.exclusion import find_key_in_artifact, relative_to_root
from hatch_signedimp.order import hooks_after

from .build_hook_util import build_env, copy_sample, ed25519_pem, extract, output, run_build, wheels

KNOWN = "known options: `key-file`, `key-env`, `passphrase-env`, `require-key`"


# -- registration ----------------------------------------------------------------------------


def test_registered_under_the_hatch_entry_point_group():
    eps = [ep for ep in importlib.metadata.entry_points(group="hatch") if ep.name == "signedimp"]
    assert [ep.value for ep in eps] == ["hatch_signedimp.hooks"]


def test_hatchling_finds_the_hook_by_name():
    from hatchling.plugin.manager import PluginManager

    from hatch_signedimp.hooks import hatch_register_build_hook
    from hatch_signedimp.plugin import PLUGIN_NAME, SignedImpBuildHook

    assert PLUGIN_NAME == SignedImpBuildHook.PLUGIN_NAME == "signedimp"
    assert hatch_register_build_hook() is SignedImpBuildHook
    assert PluginManager().build_hook.get("signedimp") is SignedImpBuildHook


def test_framework_hatch_classifier():
    classifiers = importlib.metadata.metadata("hatch-signedimp").get_all("Classifier")
    assert "Framework :: Hatch" in classifiers


# -- options ---------------------------------------------------------------------------------


def test_defaults(tmp_path):
    options = HookOptions({}, str(tmp_path))
    options.validate()
    assert options.key_file is None and options.key_path is None
    assert options.key_env == "SIGNEDIMP_KEY"
    assert options.passphrase_env == "SIGNEDIMP_KEY_PASSPHRASE"
    assert options.require_key is True


def test_relative_key_file_resolves_against_the_project_root(tmp_path):
    assert HookOptions({"key-file": "keys/k.pem"}, str(tmp_path)).key_path == str(tmp_path / "keys" / "k.pem")
    absolute = str(tmp_path / "elsewhere.pem")
    assert HookOptions({"key-file": absolute}, "/somewhere").key_path == absolute
    home = HookOptions({"key-file": "~/k.pem"}, str(tmp_path)).key_path
    assert home == os.path.join(os.path.expanduser("~"), "k.pem")


def test_hatchling_generic_options_are_not_unknown(tmp_path):
    HookOptions(
        {
            "enable-by-default": False,
            "dependencies": ["x"],
            "require-runtime-dependencies": True,
            "require-runtime-features": [],
        },
        str(tmp_path),
    ).validate()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"key-file": 3}, "Option `key-file` for build hook `signedimp` must be a string"),
        ({"key-file": ""}, "Option `key-file` for build hook `signedimp` cannot be an empty string"),
        ({"key-env": ["A"]}, "Option `key-env` for build hook `signedimp` must be a string"),
        ({"key-env": ""}, "Option `key-env` for build hook `signedimp` cannot be an empty string"),
        (
            {"key-env": "A=B"},
            "Option `key-env` for build hook `signedimp` must be the name of an environment variable",
        ),
        ({"passphrase-env": 1}, "Option `passphrase-env` for build hook `signedimp` must be a string"),
        (
            {"passphrase-env": " "},
            "Option `passphrase-env` for build hook `signedimp` cannot be an empty string",
        ),
        (
            {"passphrase-env": "SIGNEDIMP_KEY"},
            "Option `passphrase-env` for build hook `signedimp` must name another variable than option `key-env`",
        ),
        ({"require-key": "yes"}, "Option `require-key` for build hook `signedimp` must be a boolean"),
        ({"require-key": 1}, "Option `require-key` for build hook `signedimp` must be a boolean"),
        (
            {"keyfile": "k.pem"},
            f"Unknown option `keyfile` for build hook `signedimp` (did you mean `key-file`?); {KNOWN}",
        ),
        ({"colour": "red"}, f"Unknown option `colour` for build hook `signedimp`; {KNOWN}"),
    ],
)
def test_each_bad_option_is_named(tmp_path, config, message):
    with pytest.raises(ConfigurationError) as info:
        HookOptions(config, str(tmp_path)).validate()
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith(message)
    assert str(info.value) == info.value.errors[0]


def test_properties_are_lazy_and_name_their_option(tmp_path):
    options = HookOptions({"require-key": "no", "key-env": "FINE"}, str(tmp_path))
    assert options.key_env == "FINE"  # a bad option elsewhere does not matter until it is read
    with pytest.raises(ConfigurationError, match="Option `require-key`"):
        _ = options.require_key


def test_all_errors_are_reported_together(tmp_path):
    config = {"key-file": 3, "key-env": "", "passphrase_env": "X", "require-key": "yes"}
    with pytest.raises(ConfigurationError) as info:
        HookOptions(config, str(tmp_path)).validate()
    errors = info.value.errors
    assert len(errors) == 4
    text = str(info.value)
    assert text.startswith("Build hook `signedimp` has 4 configuration errors:")
    for needle in (
        "`key-file`",
        "`key-env`",
        "`passphrase_env` for build hook `signedimp` (did you mean `passphrase-env`?)",
        "`require-key`",
    ):
        assert needle in text


# -- small helpers ---------------------------------------------------------------------------


def test_hooks_after():
    assert hooks_after("signedimp", ("a", "signedimp")) == []
    assert hooks_after("signedimp", ("signedimp", "a", "b")) == ["a", "b"]
    assert hooks_after("signedimp", ()) == []
    # hatchling's `version` hook has no finalize(); `custom` may have one
    assert hooks_after("signedimp", ("signedimp", "version", "custom")) == ["custom"]


def test_hook_uses_hatchling_public_interface_only():
    """#9.6: no private hatchling attributes, no builder objects made inside a build, no blanket
    ``except Exception`` around hatchling calls."""
    import hatch_signedimp

    package = Path(hatch_signedimp.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text()
        for needle in (
            "build_reserved_paths",
            "SdistBuilder",
            "plugin_manager",
            "build_config",
            "hatchling.builders.sdist",
            "hatchling.plugin.manager",
        ):
            assert needle not in text, (path.name, needle)
    imports = {
        line.strip()
        for path in package.glob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(("from hatchling", "import hatchling"))
    }
    assert imports == {
        "from hatchling.builders.hooks.plugin.interface import BuildHookInterface",
        "from hatchling.plugin import hookimpl",
    }


def test_hook_reads_keys_through_the_signing_tools():
    """#9.3: one way to read a signing key; the hook does not parse PEM itself."""
    import hatch_signedimp.keysource as keysource

    text = Path(keysource.__file__).read_text()
    assert "from signedimp.tools._key_files import" in text
    assert "load_private_key" not in text and "PEM.decode" not in text and "import_key" not in text


def test_relative_to_root(tmp_path):
    assert relative_to_root(str(tmp_path / "a" / "k.pem"), str(tmp_path)) == os.path.join("a", "k.pem")
    assert relative_to_root(str(tmp_path.parent / "k.pem"), str(tmp_path)) is None
    assert relative_to_root(str(tmp_path), str(tmp_path)) is None


def test_find_key_in_artifact(tmp_path):
    secret = b"-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    whl = tmp_path / "x.whl"
    with zipfile.ZipFile(whl, "w") as archive:
        archive.writestr("a.txt", b"x" * len(secret))
        archive.writestr("pkg/k.pem", secret)
    assert find_key_in_artifact(str(whl), secret) == "pkg/k.pem"
    assert find_key_in_artifact(str(whl), secret + b"!") is None
    tgz = tmp_path / "x.tar.gz"
    (tmp_path / "k.pem").write_bytes(secret)
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "k.pem", arcname="p-1/keys/k.pem")
    assert find_key_in_artifact(str(tgz), secret) == "p-1/keys/k.pem"


# -- real builds that need no signature ------------------------------------------------------


@pytest.mark.slow
def test_bad_configuration_fails_the_build_with_every_error(tmp_path):
    project = copy_sample(tmp_path / "p", 'key-file = 3\nkey-env = ""\nkeyfile = "x"\nrequire-key = "yes"')
    proc = run_build(project, "--wheel")
    assert proc.returncode != 0
    text = output(proc)
    assert "Build hook `signedimp` has 4 configuration errors:" in text
    for message in (
        "Option `key-file` for build hook `signedimp` must be a string",
        "Option `key-env` for build hook `signedimp` cannot be an empty string",
        "Unknown option `keyfile` for build hook `signedimp` (did you mean `key-file`?)",
        "Option `require-key` for build hook `signedimp` must be a boolean",
    ):
        assert message in text
    assert wheels(project / "dist") == []


@pytest.mark.slow
def test_missing_key_fails_and_leaves_no_wheel(tmp_path):
    project = copy_sample(tmp_path / "p")
    proc = run_build(project, "--wheel")
    assert proc.returncode != 0
    text = output(proc)
    assert "Build hook `signedimp` needs a private key to sign the wheel, and none was given" in text
    assert "`SIGNEDIMP_KEY`" in text and "`key-file`" in text and "require-key = false" in text
    assert wheels(project / "dist") == []


@pytest.mark.slow
def test_empty_key_variable_counts_as_missing(tmp_path):
    project = copy_sample(tmp_path / "p")
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_KEY=""))
    assert proc.returncode != 0
    assert "none was given" in output(proc)
    assert wheels(project / "dist") == []


@pytest.mark.slow
def test_missing_key_file_fails(tmp_path):
    project = copy_sample(tmp_path / "p", 'key-file = "keys/nope.pem"')
    proc = run_build(project, "--wheel")
    assert proc.returncode != 0
    text = output(proc)
    assert (
        f"the key file `{project / 'keys' / 'nope.pem'}` (option `key-file` = 'keys/nope.pem') does not exist"
        in text
    )
    assert "unpacked sdist" not in text
    assert wheels(project / "dist") == []


@pytest.mark.slow
def test_key_env_names_the_variable(tmp_path):
    project = copy_sample(tmp_path / "p", 'key-env = "MY_SIGNING_KEY"')
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_KEY="ignored, not the configured variable"))
    assert proc.returncode != 0
    assert "Set the environment variable `MY_SIGNING_KEY`" in output(proc)


@pytest.mark.slow
def test_key_variable_holding_a_path_is_explained(tmp_path):
    project = copy_sample(tmp_path / "p")
    (tmp_path / "k.pem").write_text("whatever")
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_KEY=str(tmp_path / "k.pem")))
    assert proc.returncode != 0
    assert "holds a file name, not a key" in output(proc)
    assert wheels(project / "dist") == []


@pytest.mark.slow
def test_require_key_false_builds_an_unsigned_wheel_with_a_warning(tmp_path):
    project = copy_sample(tmp_path / "p", "require-key = false")
    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    assert (
        "option `key-file` is not set, and the environment variable `SIGNEDIMP_KEY` is not set); "
        "the wheel is left UNSIGNED because `require-key = false`" in output(proc)
    )
    (wheel,) = wheels(project / "dist")
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith("signedimp-manifest.txt")]


@pytest.mark.slow
def test_require_key_false_with_an_absent_key_file_warns(tmp_path):
    project = copy_sample(tmp_path / "p", 'require-key = false\nkey-file = "keys/absent.pem"')
    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    assert f"the key file `{project / 'keys' / 'absent.pem'}` (option `key-file`) does not exist" in output(
        proc
    )
    assert "left UNSIGNED" in output(proc)
    assert len(wheels(project / "dist")) == 1


@pytest.mark.slow
def test_hook_configured_after_signedimp_is_warned_about(tmp_path):
    extra = '\n[tool.hatch.build.targets.wheel.hooks.custom]\npath = "late_hook.py"\n'
    project = copy_sample(tmp_path / "p", "require-key = false", extra=extra)
    (project / "late_hook.py").write_text(
        "from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n"
        "class LateHook(BuildHookInterface):\n"
        "    def finalize(self, version, build_data, artifact_path):\n"
        "        pass\n"
    )
    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    assert "Build hook `signedimp` runs before build hook(s) `custom` for the wheel" in output(proc)


@pytest.mark.slow
def test_no_warning_when_signedimp_runs_last(tmp_path):
    project = copy_sample(tmp_path / "p", "require-key = false")
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        "[tool.hatch.build.hooks.signedimp]",
        '[tool.hatch.build.hooks.custom]\npath = "early_hook.py"\n\n[tool.hatch.build.hooks.signedimp]',
    )
    (project / "pyproject.toml").write_text(text)
    (project / "early_hook.py").write_text(
        "from hatchling.builders.hooks.plugin.interface import BuildHookInterface\n"
        "class EarlyHook(BuildHookInterface):\n    pass\n"
    )
    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    assert "runs before build hook" not in output(proc)


# -- sdist -----------------------------------------------------------------------------------

PEM_STANDIN = "-----BEGIN PRIVATE KEY-----\nnot read by sdist builds\n-----END PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def project_with_key_file(tmp_path_factory):
    """The sample with `key-file` inside the project (ignored by `.gitignore`), and its sdist."""
    root = tmp_path_factory.mktemp("sdist")
    project = copy_sample(root / "p", 'key-file = "keys/signing.pem"')
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_text(PEM_STANDIN)
    (project / ".gitignore").write_text("/keys/\n")
    proc = run_build(project, "--sdist")
    assert proc.returncode == 0, output(proc)
    (sdist,) = (project / "dist").glob("*.tar.gz")
    return project, sdist


@pytest.mark.slow
def test_sdist_is_unsigned_and_never_contains_the_key(project_with_key_file):
    _, sdist = project_with_key_file
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    assert "sample_app-0.1.0/pyproject.toml" in names
    assert "sample_app-0.1.0/src/sample_app/sub/planets.json" in names
    assert not [n for n in names if "signing.pem" in n or "keys/" in n]
    assert not [n for n in names if "signedimp-manifest" in n]


@pytest.fixture
def project_with_unexcluded_key(tmp_path):
    project = copy_sample(tmp_path / "p", 'key-file = "keys/signing.pem"')
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_text(PEM_STANDIN)
    return project


@pytest.mark.slow
def test_sdist_that_would_ship_the_key_is_refused_with_the_fix(project_with_unexcluded_key):
    project = project_with_unexcluded_key
    proc = run_build(project, "--sdist")
    assert proc.returncode != 0
    text = output(proc)
    assert (
        "the private signing key ended up in the sdist as `sample_app-0.1.0/keys/signing.pem`; "
        "the sdist was deleted. Keep the key file outside the project, list it in `.gitignore`, or "
        'exclude it:\n[tool.hatch.build.targets.sdist]\nexclude = ["/keys/signing.pem"]' in text
    )
    assert not list((project / "dist").glob("*.tar.gz"))

    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text + '\n[tool.hatch.build.targets.sdist]\nexclude = ["/keys/signing.pem"]\n'
    )
    proc = run_build(project, "--sdist")
    assert proc.returncode == 0, output(proc)
    (sdist,) = (project / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert not [n for n in tar.getnames() if "signing.pem" in n]


@pytest.mark.slow
def test_without_the_hook_the_key_would_ship(project_with_unexcluded_key, tmp_path):
    """The control for the test above: hatchling alone puts the key file in the sdist."""
    proc = run_build(
        project_with_unexcluded_key,
        "--sdist",
        outdir=tmp_path / "out",
        env=build_env(HATCH_BUILD_NO_HOOKS="true"),
    )
    assert proc.returncode == 0, output(proc)
    (sdist,) = (tmp_path / "out").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert "sample_app-0.1.0/keys/signing.pem" in tar.getnames()


@pytest.mark.slow
def test_force_included_key_fails_the_sdist(tmp_path):
    extra = '\n[tool.hatch.build.targets.sdist.force-include]\n"keys/signing.pem" = "secret.pem"\n'
    project = copy_sample(tmp_path / "p", 'key-file = "keys/signing.pem"', extra=extra)
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    )
    proc = run_build(project, "--sdist")
    assert proc.returncode != 0
    text = output(proc)
    assert "the private signing key ended up in the sdist as `sample_app-0.1.0/secret.pem`" in text
    assert '[tool.hatch.build.targets.sdist]\nexclude = ["/keys/signing.pem"]' in text
    assert not list((project / "dist").glob("*.tar.gz"))


@pytest.mark.slow
def test_a_copy_of_the_key_elsewhere_is_named_in_the_hint(tmp_path):
    project = copy_sample(tmp_path / "p", 'key-file = "keys/signing.pem"')
    pem = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_text(pem)
    (project / "backup").mkdir()
    (project / "backup" / "old-key.pem").write_text(pem)  # the same key under another name
    proc = run_build(project, "--sdist")
    assert proc.returncode != 0
    text = output(proc)
    assert "the private signing key ended up in the sdist as `sample_app-0.1.0/backup/old-key.pem`" in text
    assert '[tool.hatch.build.targets.sdist]\nexclude = ["/backup/old-key.pem"]' in text
    assert not list((project / "dist").glob("*.tar.gz"))


@pytest.mark.slow
def test_wheel_from_sdist_without_the_key_is_unsigned_with_a_warning(project_with_key_file, tmp_path):
    """#12.1: whoever builds from a published sdist has no key: the wheel is built, unsigned, and
    the warning says how to sign; `SIGNEDIMP_REQUIRE_KEY=1` (release CI) makes it an error."""
    _, sdist = project_with_key_file
    with tarfile.open(sdist) as tar:
        extract(tar, tmp_path)
    unpacked = tmp_path / "sample_app-0.1.0"
    proc = run_build(unpacked, "--wheel")
    assert proc.returncode == 0, output(proc)
    text = " ".join(output(proc).split())
    assert (
        f"Build hook `signedimp`: no signing key, so the wheel is left UNSIGNED: it is built from an unpacked "
        f"sdist (the key file `{unpacked / 'keys' / 'signing.pem'}` (option `key-file`) does not exist, and "
        "the environment variable `SIGNEDIMP_KEY` is not set). This wheel is being built from an unpacked "
        "sdist, and an sdist never contains the private key: to sign, pass the key through the environment "
        "variable `SIGNEDIMP_KEY` (its PEM text), or set option `key-file` to an absolute path. Set "
        "`SIGNEDIMP_REQUIRE_KEY=1` to make a missing key an error."
    ) in text
    (wheel,) = wheels(unpacked / "dist")
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if n.endswith("signedimp-manifest.txt")]

    shutil.rmtree(unpacked / "dist")
    proc = run_build(unpacked, "--wheel", env=build_env(SIGNEDIMP_REQUIRE_KEY="1"))
    assert proc.returncode != 0
    text = " ".join(output(proc).split())
    assert (
        f"the key file `{unpacked / 'keys' / 'signing.pem'}` (option `key-file` = 'keys/signing.pem') "
        "does not exist" in text
    )
    assert (
        "pass the key through the environment variable `SIGNEDIMP_KEY` (its PEM text), or set option "
        "`key-file` to an absolute path." in text
    )
    assert "(`SIGNEDIMP_REQUIRE_KEY=1` is set: every build must sign.)" in text
    assert wheels(unpacked / "dist") == []


@pytest.mark.slow
def test_require_key_env_applies_to_require_key_false_too(tmp_path):
    project = copy_sample(tmp_path / "p", "require-key = false")
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_REQUIRE_KEY="1"))
    assert proc.returncode != 0
    assert "Build hook `signedimp` needs a private key to sign the wheel, and none was given" in output(proc)
    assert wheels(project / "dist") == []
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_REQUIRE_KEY="maybe"))
    assert proc.returncode != 0
    assert (
        "the environment variable `SIGNEDIMP_REQUIRE_KEY` must be 1 (every build requires the signing "
        "key) or 0, not 'maybe'" in output(proc)
    )


# -- editable --------------------------------------------------------------------------------


@pytest.mark.slow
def test_editable_install_is_skipped_with_a_message(tmp_path):
    # dev-mode-dirs: hatchling's editable wheel without the `editables` package (no isolation here)
    project = copy_sample(tmp_path / "p", extra="")
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        'packages = ["src/sample_app"]', 'packages = ["src/sample_app"]\ndev-mode-dirs = ["src"]'
    )
    (project / "pyproject.toml").write_text(text)
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-v",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            "-e",
            str(project),
        ],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, output(proc)
    assert "Build hook `signedimp`: skipping the editable wheel" in output(proc)
    assert (target / "sample_app-0.1.0.dist-info").is_dir()
    assert not list(target.rglob("signedimp-manifest.txt"))


@pytest.mark.slow
def test_hook_for_the_wheel_only_refuses_a_wheel_from_an_sdist_with_the_key(tmp_path):
    """Configured for the wheel target alone, the hook does not run for the sdist, which then
    carries the key; a wheel built from that sdist is refused."""
    project = copy_sample(tmp_path / "p")
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        "[tool.hatch.build.hooks.signedimp]",
        '[tool.hatch.build.targets.wheel.hooks.signedimp]\nkey-file = "keys/signing.pem"',
    )
    (project / "pyproject.toml").write_text(text)
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_bytes(ed25519_pem()[0])

    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    shutil.rmtree(project / "dist")
    proc = run_build(project)  # sdist (with the key: hatchling alone), then the wheel from it
    assert proc.returncode != 0
    assert "is inside this unpacked sdist, so that sdist contains the private signing key" in output(proc)
    assert wheels(project / "dist") == []
