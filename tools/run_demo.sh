#!/usr/bin/env bash
# The main job: make the synthetic demo data if missing, train the demo model
# with tools/train.py, evaluate it with tools/test.py, save readable pictures
# of its predictions with a contact sheet, draw the training curves and print
# the result against the chance level.
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
case "$WORK_DIR" in
  /*) PICTURES=$WORK_DIR/predictions ;;
  *) PICTURES=$ROOT/$WORK_DIR/predictions ;;
esac

if [ ! -f "$DATA_ROOT/README.txt" ]; then
  echo "[demo] writing the synthetic demo data to $DATA_ROOT"
  "$PYTHON" tools/dataset_converters/make_demo_data.py --root "$DATA_ROOT"
fi

echo "[demo] training $CONFIG"
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
CHECKPOINT=$(cat "$WORK_DIR/last_checkpoint")

echo "[demo] evaluating $CHECKPOINT"
"$PYTHON" tools/test.py "$CONFIG" "$CHECKPOINT" --work-dir "$WORK_DIR" \
  --show-dir "$PICTURES" --show-interval 5

echo
echo "[demo] done: $CONFIG"
"$PYTHON" tools/analysis_tools/demo_report.py "$CONFIG" "$WORK_DIR" \
  --pictures "$PICTURES" --wall-seconds "$SECONDS"
echo "checkpoint     : $CHECKPOINT"
