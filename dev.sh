#!/usr/bin/env bash
# The project's two entry points, on a machine that has only python3 and pip:
#   ./dev.sh demo   set up .venv and open `cockpit demo` (a local run, no cloud account)
#   ./dev.sh test   set up .venv with the dev tools, then lint, type-check, check the import
#                   contracts and run the whole test suite (what CI runs)
# Anything after the command is passed on (to `cockpit demo` or to pytest).
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"

ensure_venv() {
  local extras="$1"
  local stamp="$VENV/.installed-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -e ".$extras"
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

ensure_test_tools() {
  # The end-to-end tests drive the real UI in tmux and a run on OpenSSH's real sshd, and a
  # job on a real Slurm cluster.
  local missing=()
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  { command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; } || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  # The Slurm backend's tests start a real single-node cluster (munged, slurmctld, slurmd).
  { command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ]; } || missing+=(slurm-wlm)
  { command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ]; } || missing+=(munge)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "installing ${missing[*]} (needed by the end-to-end tests)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

command="${1:-}"
shift || true
case "$command" in
  demo)
    ensure_venv ""
    exec "$VENV/bin/cockpit" demo "$@"
    ;;
  test)
    ensure_venv "[dev]"
    ensure_test_tools
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"
    NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet -d "$(mktemp -d)"
    exec "$PY" -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo [--dir DIR] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
