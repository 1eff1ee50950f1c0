#!/bin/sh
# Environment setup for the demo: what a real setup step checks, minus the downloads.
echo "[setup] python: $(python3 --version 2>&1)"
echo "[setup] run id: $COCKPIT_RUN_ID"
echo "[setup] run dir: $COCKPIT_RUN_DIR"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
else
  echo "[setup] nvidia-smi not found: training on the CPU"
fi
echo "[setup] the demo needs only the standard library; nothing to install"
