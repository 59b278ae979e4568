#!/usr/bin/env bash
# The main job: make the synthetic demo data if missing, train the demo model
# with tools/train.py, evaluate it with tools/test.py and save pictures of its
# predictions.
#
#   bash tools/run_demo.sh [CONFIG]
#
# CONFIG defaults to $DEMO_CONFIG, else configs/demo/hat-net-tiny_1xb32_shapes.py;
# any config of configs/demo/ works (classification, detection, segmentation).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CONFIG=${1:-${DEMO_CONFIG:-configs/demo/hat-net-tiny_1xb32_shapes.py}}
DATA_ROOT=data/demo
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/demo/$NAME}

if [ ! -f "$DATA_ROOT/README.txt" ]; then
  echo "[demo] writing the synthetic demo data to $DATA_ROOT"
  "$PYTHON" tools/dataset_converters/make_demo_data.py --root "$DATA_ROOT"
fi

echo "[demo] training $CONFIG"
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CHECKPOINT=$(cat "$WORK_DIR/last_checkpoint")

echo "[demo] evaluating $CHECKPOINT"
"$PYTHON" tools/test.py "$CONFIG" "$CHECKPOINT" --work-dir "$WORK_DIR" \
  --show-dir "$ROOT/$WORK_DIR/predictions" --show-interval 5

LOG=$(ls -t "$WORK_DIR"/*/*.log | head -n 1)
cat <<MSG

[demo] done.
  training log : $LOG
  checkpoint   : $CHECKPOINT
  predictions  : $WORK_DIR/predictions (pictures of test predictions)
MSG
