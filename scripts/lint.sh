#!/usr/bin/env bash
# lint.sh VENV: ruff (lint and format check) and mypy, as configured in pyproject.toml.
set -u
venv=${1:-.venv}
status=0
"$venv/bin/ruff" check . || status=1
"$venv/bin/ruff" format --check . || status=1
"$venv/bin/mypy" || status=1
exit $status
