#!/usr/bin/env bash
# Run the test suite on each supported Python this machine has, each in its own venv.
# With pyenv: every 3.10-3.13 it knows; without: the default python3 only.
set -u
cd "$(dirname "$0")/.."

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

failed=()
for python in "${interpreters[@]}"; do
  minor=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  venv=".venv-$minor"
  echo "=== Python $minor ($python) ==="
  if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv" &&
      "$venv/bin/python" -m pip install --quiet --upgrade pip &&
      "$venv/bin/python" -m pip install --quiet -e '.[test]' &&
      touch "$venv/.installed" || { failed+=("$minor (install)"); continue; }
  fi
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || failed+=("$minor")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED on Python ${failed[*]}"
  exit 1
fi
echo "make test: passed on ${#interpreters[@]} interpreter(s)"
