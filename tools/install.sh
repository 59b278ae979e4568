#!/usr/bin/env bash
# Install vit_backbones and the OpenMMLab stack it is tested with into a
# virtual environment. Idempotent: a re-run checks the environment and
# returns in seconds.
#
#   bash tools/install.sh            # into ./.venv (created if missing)
#   VENV=/path/to/env bash tools/install.sh   # into an existing environment
#   STACK=onedl bash tools/install.sh         # the maintained onedl-* forks,
#                                             # into ./.venv-onedl by default
#
# Environment variables:
#   STACK           mmlab (default): the original OpenMMLab packages;
#                   onedl: the maintained forks (same import names)
#   VENV            environment to install into (default: <repo>/.venv,
#                   <repo>/.venv-onedl for STACK=onedl)
#   PYTHON          interpreter that creates a new venv (default: python3)
#   MMCV_WHEEL_DIR  folder searched for a prebuilt mmcv wheel of the stack
#                   (default: <repo>/../shared/wheels when it exists)
#   MAX_JOBS        parallel compile jobs when mmcv is built from source
#
# What it installs, and why this way:
#   * torch 2.13.0 + torchvision 0.28.0, unless the environment already has a
#     working pair (a GPU machine's install is kept). The CPU-only torch
#     wheel some machines pin locally cannot load torchvision's ops, so the
#     registry's build is asked for explicitly ("!=2.13.0+cpu").
#   * mmcv 2.1.0 WITH its compiled ops (mmdet needs nms/RoIAlign; mmdet 3.3
#     and mmseg 1.2 refuse mmcv >= 2.2). PyPI has no wheel: a cached wheel is
#     used when one fits this torch, else it is built from source without
#     build isolation (isolation silently builds mmcv without ops), with
#     setuptools<80 (mmcv's setup.py needs pkg_resources; 80.x warns on
#     every import of it). ~20 min on 2 cores.
#   * mmengine 0.10.7, mmpretrain 1.2.0, mmdet 3.3.0, mmsegmentation 1.2.2,
#     ftfy + regex (imported by mmseg, undeclared), pycocotools, then this
#     package in editable mode with its test extras (grad-cam among them),
#     and openmim 0.3.9 (onedl-mim 0.5.1 on the forks) without its
#     opendatalab requirement.
#   * STACK=onedl: the same with onedl-mmengine 0.10.12, onedl-mmcv 2.3.6
#     (an sdist: cached wheel or a source build without build isolation,
#     ~17 min), onedl-mmpretrain 1.3.6, onedl-mmdetection 3.5.1 and
#     onedl-mmsegmentation 1.4.2. The package's setup.py names no mm*
#     distribution (they are its `mmlab`/`onedl` extras), so the editable
#     install never pulls the original packages over the forks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=${STACK:-mmlab}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=("torch==2.13.0,!=2.13.0+cpu" "torchvision==0.28.0")
case "$STACK" in
  mmlab)
    VENV=${VENV:-$ROOT/.venv}
    MMENGINE_SPEC="mmengine==0.10.7"
    MMCV_VERSION=2.1.0 MMCV_DIST=mmcv MMCV_WHEEL_NAME=mmcv
    MM_SPEC=("mmpretrain==1.2.0" "mmdet==3.3.0" "mmsegmentation==1.2.2")
    MIM_SPEC="openmim==0.3.9" ;;
  onedl)
    VENV=${VENV:-$ROOT/.venv-onedl}
    MMENGINE_SPEC="onedl-mmengine==0.10.12"
    MMCV_VERSION=2.3.6 MMCV_DIST=onedl-mmcv MMCV_WHEEL_NAME=onedl_mmcv
    MM_SPEC=("onedl-mmpretrain==1.3.6" "onedl-mmdetection==3.5.1"
             "onedl-mmsegmentation==1.4.2")
    MIM_SPEC="onedl-mim==0.5.1" ;;
  *) echo "[install] STACK must be mmlab or onedl, got '$STACK'" >&2; exit 2 ;;
esac
MM_SPEC+=("ftfy" "regex" "pycocotools")
STAMP=$VENV/.vit_backbones_install
if [ -z "${MMCV_WHEEL_DIR:-}" ] && [ -d "$ROOT/../shared/wheels" ]; then
  MMCV_WHEEL_DIR=$(cd "$ROOT/../shared/wheels" && pwd)
fi

log() { printf '[install] %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - START ))s"; }
START=$(date +%s)

torch_works() {  # $1: python
  "$1" - <<'EOF' >/dev/null 2>&1
import torch, torchvision
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
EOF
}

# 1. The environment.
if [ ! -x "$VENV/bin/python" ]; then
  args=()
  if torch_works "$PYTHON"; then
    log "$PYTHON already has a working torch + torchvision; the venv will see it"
    args+=(--system-site-packages)
  fi
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "${args[@]}" "$VENV"
fi
PY=$VENV/bin/python
pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }

fingerprint=$( (cat "$ROOT/tools/install.sh" "$ROOT/setup.py"; echo "$STACK") \
  | sha256sum | cut -c1-16)
stack_ok() {
  MMCV_VERSION=$MMCV_VERSION "$PY" - <<'EOF' >/dev/null 2>&1
import os
import mmcv, mmcv._ext, mmcv.ops  # noqa: F401
assert mmcv.__version__ == os.environ['MMCV_VERSION'], mmcv.__version__
import mmpretrain.models, mmdet.models, mmseg.models  # noqa: F401
import vit_backbones  # noqa: F401
import safetensors  # noqa: F401
import pytest, xdist  # noqa: F401
import mim, pytorch_grad_cam  # noqa: F401
EOF
}
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ] && stack_ok; then
  log "environment $VENV is up to date ($(elapsed))"
  exit 0
fi

# 2. Build tools (setuptools<82 is also a runtime need of mmengine 0.10.7).
pip_install -q "setuptools>=77,<80" wheel

# 3. torch + torchvision.
if torch_works "$PY"; then
  log "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  log "installing ${TORCH_SPEC[*]}"
  pip_install "${TORCH_SPEC[@]}"
fi

# 4. mmcv with compiled ops ($MMCV_DIST $MMCV_VERSION). `import mmcv` imports
#    mmengine, so mmengine and mmcv's own requirements go in first (the wheel
#    goes in with --no-deps).
pip_install -q "$MMENGINE_SPEC" addict packaging Pillow pyyaml yapf numpy opencv-python
mmcv_ok() {
  "$PY" -c "import mmcv, mmcv._ext; assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__" \
    >"$VENV/.mmcv_check.log" 2>&1
}
if mmcv_ok; then
  log "$MMCV_DIST $MMCV_VERSION with ops is already installed"
else
  installed=0
  if [ -n "${MMCV_WHEEL_DIR:-}" ]; then
    for wheel in "$MMCV_WHEEL_DIR/$MMCV_WHEEL_NAME-$MMCV_VERSION"-*.whl; do
      [ -e "$wheel" ] || continue
      log "trying the cached wheel $wheel"
      pip_install -q --no-deps --force-reinstall "$wheel"
      if mmcv_ok; then installed=1; break; fi
      log "the cached wheel does not load with this torch; dropping it:"
      tail -n 3 "$VENV/.mmcv_check.log" >&2
      "$PY" -m pip uninstall -q -y "$MMCV_DIST"
    done
  fi
  if [ "$installed" = 0 ]; then
    log "building $MMCV_DIST $MMCV_VERSION with ops from source (about 20 min on 2 cores)"
    pip_install -q ninja psutil
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} pip_install --no-deps \
      --force-reinstall --no-build-isolation --no-binary "$MMCV_DIST" \
      "$MMCV_DIST==$MMCV_VERSION"
    mmcv_ok || { log "$MMCV_DIST built without working ops:";
                 tail -n 20 "$VENV/.mmcv_check.log" >&2; exit 1; }
  fi
fi

# 5. The OpenMMLab toolboxes and this package.
log "installing ${MM_SPEC[*]}"
pip_install -q "${MM_SPEC[@]}"
log "installing vit_backbones (editable) with its test extras"
pip_install -q --no-build-isolation -e "$ROOT[tests]"
# mim without its `opendatalab` requirement (dataset downloads only), which
# pins setuptools 60 and requests 2.28, below what torch and mmengine need.
log "installing $MIM_SPEC"
pip_install -q --no-deps "$MIM_SPEC"
pip_install -q "click>=8.3" colorama model-index pandas requests rich tabulate
# The original distributions must not have come in over the forks.
if [ "$STACK" = onedl ] && "$PY" -m pip show -q mmengine >/dev/null 2>&1; then
  log "the original mmengine was installed over onedl-mmengine; see setup.py"
  exit 1
fi

if ! stack_ok; then
  log "the stack does not import; run: $PY -c 'import mmdet.models, mmseg.models, vit_backbones'"
  exit 1
fi
echo "$fingerprint" > "$STAMP"
log "done in $(elapsed), stack $STACK: $("$PY" - <<'EOF'
import torch, mmcv, mmengine, mmpretrain, mmdet, mmseg
print(f'torch {torch.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}')
EOF
)"
