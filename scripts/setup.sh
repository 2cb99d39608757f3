#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian/Ubuntu machine:
#   system packages (apt, --no-install-recommends), a .venv with torch==2.13.0 (CPU) pinned,
#   the project in editable mode with its dev + peers extras, and the QEMU instruction-count plugin.
# A second run installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm libglib2.0-dev
  espeak-ng flite fluidsynth fluid-soundfont-gm sox libsndfile1 libc++1
  asterisk-core-sounds-en-g722 asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav
  asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav
  klettres-data pocketsphinx-testdata asterisk-moh-opsound-wav sound-theme-freedesktop
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts  # spoof corpus TTS attacks
  g++ python3-dev  # pyworld (spoof corpus) builds from source
)
TORCH_PIN="torch==2.13.0"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -c "import ensurepip" 2>/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
  "$PY" -m venv .venv
fi

stamp=.venv/.noisebudget-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip show torch 2>/dev/null | grep -q '^Version: 2.13.0' || .venv/bin/python -m pip install -q "$TORCH_PIN"
  .venv/bin/python -m pip install -q -e '.[dev,peers]' "$TORCH_PIN"
  echo "$want" > "$stamp"
fi

# Native helpers built from source in this repo (skipped when up to date).
if [ -f convert/qemu_plugin/Makefile ]; then
  make -s -C convert/qemu_plugin
fi
