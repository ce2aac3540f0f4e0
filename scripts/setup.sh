#!/usr/bin/env bash
# Creates the venv and installs Retouch with every extra; installs Qt's system libraries on
# Debian/Ubuntu when they are missing and we are root. Idempotent.
set -euo pipefail
PY_ASKED=${PY_ASKED-${PY:+yes}}  # a Python the user named is used or refused, never swapped for another
PY=${PY:-python3.11}
VENV=${VENV:-.venv}

need_apt=()
if command -v apt-get >/dev/null 2>&1; then
  # Qt offscreen + xcb (screenshots under Xvfb) + building wheels from source.
  for pkg in python3-venv libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 \
             libglib2.0-0 libdbus-1-3 fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
             libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xkb1 libx11-xcb1 xvfb xauth; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
    if ! { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update &&
           DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${need_apt[@]}"; }; then
      echo "setup: warning: could not install ${need_apt[*]}; Qt may fail to start" >&2
    fi
  else
    echo "setup: missing system packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

if ! command -v "$PY" >/dev/null 2>&1; then
  if [ -n "$PY_ASKED" ]; then
    echo "setup: $PY not found (PY=$PY was asked for)" >&2
    exit 1
  fi
  echo "setup: $PY not found; trying python3" >&2
  PY=python3
fi
# Say which Python, and refuse one older than pyproject's requires-python before pip does, cryptically.
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Retouch needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1 || echo missing)" >&2
  exit 1
fi
# Debian/Ubuntu split venv's pip bootstrap per Python version: python3-venv is the default
# Python's, so a python3.11 beside a 3.10 default needs python3.11-venv.
if [ ! -x "$VENV/bin/python" ] && ! "$PY" -c 'import ensurepip' 2>/dev/null; then
  ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing python$ver-venv"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq install --no-install-recommends \
      "python$ver-venv" || true
  else
    echo "setup: $PY has no venv support; install python$ver-venv (as root)" >&2
  fi
fi
# --clear: a venv whose python is a link to an interpreter since removed (a pyenv version, an upgrade)
# is left as it is by a plain venv, which keeps existing links
[ -x "$VENV/bin/python" ] || "$PY" -m venv --clear "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# On a terminal the two long installs show pip's progress (minutes of silence read as a hang); in a
# log (CI, make test > file) they stay quiet
LOUD=("${PIP[@]}")
[ -t 1 ] && LOUD=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -U pip
# The CPU build of torch. Where the PyTorch CPU index is reachable, take it from there (PyPI's
# torch pulls GBs of CUDA); on these machines pip's find-links already holds the CPU wheel.
TORCH_INDEX=()
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
if ! "${PIP[@]}" download --no-deps -d "$probe" torch==2.13.0 --no-index >/dev/null 2>&1; then
  TORCH_INDEX=(--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple)
fi
rm -rf "$probe"
echo "setup: installing torch 2.13.0 (CPU) and Retouch's packages into $VENV (a few minutes the first time)"
"${LOUD[@]}" install "torch==2.13.0" "${TORCH_INDEX[@]}"
if "$VENV/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is None)' 2>/dev/null; then
  echo "setup: warning: torch came as a CUDA build (GBs of CUDA libraries: the PyTorch CPU index was not reachable);" \
       "Retouch needs only the CPU one: remove $VENV and run make setup again where download.pytorch.org answers" >&2
fi
"${LOUD[@]}" install -e ".[app,train,cluster,dev]"
# a venv broken since (a package's folder deleted) passes pip's own check: every package is imported
import_all='import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]'
if ! broken=$("$VENV/bin/python" -c "$import_all" numpy PIL rawpy tifffile imagecodecs piexif numba onnxruntime \
              rich torch distributed pytest engine models 2>&1); then
  echo "setup: $VENV is broken (${broken##*$'\n'}); remove it and run make setup again" >&2
  exit 1
fi
# Qt needs system libraries a user who is not root may lack (said above): the commands work without them
if ! broken=$("$VENV/bin/python" -c "$import_all" PySide6.QtWidgets superqt pytestqt app 2>&1); then
  echo "setup: warning: the desktop app cannot start (${broken##*$'\n'}): Qt's system libraries are missing;" \
       "run make setup as root to install them. The retouch commands work without them." >&2
fi
echo "setup: done ($("$VENV/bin/python" -c 'import torch, onnxruntime; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__)'))"
