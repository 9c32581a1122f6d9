# Shared by scripts/*: a project virtualenv that is (re)installed when pyproject.toml changes.
# shellcheck shell=bash

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEWAY_VENV:-$PROJECT_ROOT/.venv}"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Python 3.11 or newer is required (apt-get install python3 python3-venv)" >&2
  return 1
}

ensure_venv() {
  local stamp python
  stamp="$VENV/.installed-$(sha256sum "$PROJECT_ROOT/pyproject.toml" | cut -c1-16)"
  if [ -f "$stamp" ]; then
    return 0
  fi
  python="$(find_python)"
  echo "==> installing the project and its dev tools into $VENV" >&2
  "$python" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$PROJECT_ROOT[dev]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
}
