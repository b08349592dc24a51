#!/usr/bin/env bash
# The whole hatch-signedimp story, step by step (`make demo` runs this with .venv/bin first on PATH).
#
#   key -> signed wheel (build hook) -> verified install -> tampering refused
#       -> launcher for the sealed folder -> runs verified -> tampering refused
#       -> signed zipapp with a PyPI dependency -> runs verified -> tampering refused
#
# Every refusal is expected: the script exits 0 when each tampered copy is refused and the honest
# ones run, and non-zero as soon as anything behaves otherwise. Artifacts stay in $DEMO_OUT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${DEMO_OUT:-$ROOT/demo-out}"
PY="${PYTHON:-python}"
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"

n=0
step() { n=$((n + 1)); printf '\n\033[1m== %d. %s\033[0m\n' "$n" "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fail() { printf '\n\033[31mDEMO FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
# Run a command that must be refused: non-zero exit and a signedimp message, or the demo fails.
expect_refusal() {
    printf '$ %s   # must be refused\n' "$*"
    local status=0
    "$@" >refusal.out 2>&1 || status=$?
    cat refusal.out
    [ "$status" -ne 0 ] || fail "'$*' was NOT refused (exit 0)"
    grep -q "signedimp" refusal.out || fail "'$*' failed for another reason (exit $status)"
    printf '\033[32m-> refused as expected (exit %d)\033[0m\n' "$status"
}

step "Make a signing key (Ed25519)"
run signedimp keygen -o "$OUT/demo-key.pem"
run cat "$OUT/demo-key.pem.pub"
PUB="$OUT/demo-key.pem.pub"

step "Build the demo project's wheel; the hatch build hook signs it (key from SIGNEDIMP_KEY)"
cp -r "$ROOT/tests/fixtures/demo_app" "$OUT/demo_app"
SIGNEDIMP_KEY="$(cat "$OUT/demo-key.pem")" run "$PY" -m build --wheel --no-isolation -o "$OUT/dist" "$OUT/demo_app" >build.log 2>&1 \
    || { cat build.log; fail "the wheel did not build"; }
WHEEL="$(ls "$OUT"/dist/demo_app-*.whl)"
echo "built $WHEEL"

step "The signed manifest inside the wheel"
"$PY" - "$WHEEL" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    name = next(n for n in zf.namelist() if n.endswith(".dist-info/signedimp-manifest.txt"))
    print(f"--- {name}")
    print(zf.read(name).decode(), end="")
EOF
run signedimp verify "$WHEEL" --key "$PUB"

step "pip install --target the wheel, then import it under the verifier"
# --no-compile: no __pycache__ (sealing after compileall would list the bytecode, and then the
# signed bytecode is what runs, whatever happens to the source beside it).
run "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --target "$OUT/site" "$WHEEL"
cat >check_import.py <<'EOF'
"""Install the verifier pinned to the demo key, then import from the given folder."""
import sys
import signedimp

pub, site, *modules = sys.argv[1:]
signedimp.SignedImportManager(signedimp.load_public_key(open(pub).read())).install()
sys.path.insert(0, site)
for name in modules:
    try:
        module = __import__(name, fromlist=["_"])
    except ImportError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
    print(f"imported {name} verified: {type(module.__spec__.loader).__name__} {module.__spec__.origin}")
EOF
run "$PY" -I check_import.py "$PUB" "$OUT/site" demo_app
echo "tabulate came from PyPI unsigned, so the verifier refuses it:"
expect_refusal "$PY" -I check_import.py "$PUB" "$OUT/site" tabulate
echo "A deployer seals the whole folder with their own key (one root manifest for everything):"
run signedimp sign "$OUT/site" --key "$OUT/demo-key.pem"
run "$PY" -I check_import.py "$PUB" "$OUT/site" demo_app tabulate

step "Tamper with a copy of the installed package: the import is refused"
cp -r "$OUT/site" "$OUT/site-tampered"
echo 'print("injected code ran")' >>"$OUT/site-tampered/demo_app/cli.py"
expect_refusal "$PY" -I check_import.py "$PUB" "$OUT/site-tampered" demo_app.cli

step "A launcher for the sealed folder: python -IS, pinned key, console script demo-app, every import verified"
PYABS="$("$PY" -c 'import sys; print(sys.executable)')"
run signedimp launcher --key "$PUB" -c demo-app --python "$PYABS" --path "$OUT/site" -o "$OUT/demo-app"
run head -c 200 "$OUT/demo-app"; echo " ..."
run "$OUT/demo-app" hello
run signedimp launcher --key "$PUB" -c demo-app --python "$PYABS" --path "$OUT/site-tampered" -o "$OUT/demo-app-tampered"
expect_refusal "$OUT/demo-app-tampered" hello

step "Build a signed zipapp from the signed wheel; pip brings tabulate from PyPI (--compile: bytecode too)"
run signedimp zipapp "$WHEEL" -o "$OUT/demo.pyz" --key "$OUT/demo-key.pem" -p "/usr/bin/env python3" --compile
"$PY" - "$OUT/demo.pyz" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    names = zf.namelist()
    print(f"{len(names)} entries, e.g.: " + ", ".join(n for n in names if n.startswith(("__main__", "signedimp-", "tabulate/__init__", "demo_app/cli"))))
EOF
run signedimp verify "$OUT/demo.pyz" --key "$PUB"

step "Run it: python demo.pyz verifies itself; signedimp run verifies with the key kept outside"
run "$PY" -I "$OUT/demo.pyz" hello
run signedimp run "$OUT/demo.pyz" --key "$PUB" hello

step "Tamper with a copy of the zipapp: both ways of running it refuse"
"$PY" - "$OUT/demo.pyz" "$OUT/demo-tampered.pyz" <<'EOF'
import marshal, sys, zipfile
src, dst = sys.argv[1:]
evil = "print('injected code ran')\n"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    source = zin.read("tabulate/__init__.py").decode()
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == "tabulate/__init__.py":
            data = (evil + source).encode()
        elif info.filename == "tabulate/__init__.pyc":  # with --compile the bytecode is what runs
            data = data[:16] + marshal.dumps(compile(evil + source, "tabulate/__init__.py", "exec"))
        zout.writestr(info.filename, data)
print(f"wrote {dst}: tabulate/__init__.py and its bytecode changed, manifest untouched")
EOF
expect_refusal "$PY" -I "$OUT/demo-tampered.pyz"
expect_refusal signedimp run "$OUT/demo-tampered.pyz" --key "$PUB"

printf '\n\033[1;32mDemo complete: honest artifacts ran verified, every tampered copy was refused.\033[0m\n'
printf 'Artifacts: %s\n' "$OUT"
