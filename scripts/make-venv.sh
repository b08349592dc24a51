#!/usr/bin/env bash
# make-venv.sh PYTHON VENV: (re)create VENV with this project (editable) and its test tools,
# unless it is already current with pyproject.toml. The freeze extra (PyInstaller, cx_Freeze) is for
# tests/test_frozen.py.
set -u
python=$1
venv=$2
if [ -f "$venv/.installed" ] && [ ! pyproject.toml -nt "$venv/.installed" ]; then
  exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv" &&
  "$venv/bin/python" -m pip install --quiet --upgrade pip &&
  "$venv/bin/python" -m pip install --quiet -e '.[test,dev,freeze]' &&
  touch "$venv/.installed"
