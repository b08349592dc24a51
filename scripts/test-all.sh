#!/usr/bin/env bash
# Run the test suite on each supported Python this machine has, each in its own venv.
# With pyenv: every 3.10-3.13 it knows; without: the default python3 only.
# Lint and type checks (ruff, mypy) run first, once. Heavy tests (real packages from PyPI,
# freezers) run on one interpreter only (HEAVY_ON, default 3.12, else the last one found); the
# others run them only where they are not marked heavy.
set -u
cd "$(dirname "$0")/.."
HEAVY_ON=${HEAVY_ON:-3.12}

interpreters=()
if command -v pyenv >/dev/null 2>&1; then
  for minor in 3.10 3.11 3.12 3.13; do
    version=$(pyenv latest "$minor" 2>/dev/null) || continue
    prefix=$(pyenv prefix "$version" 2>/dev/null) || continue
    [ -x "$prefix/bin/python3" ] && interpreters+=("$prefix/bin/python3")
  done
fi
if [ ${#interpreters[@]} -eq 0 ]; then
  interpreters+=("$(command -v python3)")
fi

minors=()
for python in "${interpreters[@]}"; do
  minors+=("$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
done
case " ${minors[*]} " in *" $HEAVY_ON "*) ;; *) HEAVY_ON=${minors[-1]} ;; esac

failed=()
for i in "${!interpreters[@]}"; do
  python=${interpreters[$i]}
  minor=${minors[$i]}
  venv=".venv-$minor"
  echo "=== Python $minor ($python) ==="
  bash scripts/make-venv.sh "$python" "$venv" || { failed+=("$minor (install)"); continue; }
  if [ "$minor" = "$HEAVY_ON" ]; then
    bash scripts/lint.sh "$venv" || failed+=("lint")
    skip_heavy=0
  else
    skip_heavy=1
  fi
  SIGNEDIMP_SKIP_HEAVY=$skip_heavy "$venv/bin/python" -m pytest -q -p no:cacheprovider -n 2 "$@" \
    || failed+=("$minor")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED on Python ${failed[*]}"
  exit 1
fi
echo "make test: passed on ${#interpreters[@]} interpreter(s)"
