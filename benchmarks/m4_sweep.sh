#!/bin/bash
# The M4 Weekly validation sweep of docs/results-m4.md: one run at a time, one thread, seed 42 unless a
# configuration says otherwise. Run from the repository root after
#   python benchmarks/m4_long.py --frequency Weekly --output data/m4_weekly_long.csv
# Usage: benchmarks/m4_sweep.sh [NAME ...]   (no names: every configuration below)
# Each run goes to $RUNS/NAME (default /tmp/m4runs); its wall time is appended to $RUNS/times.txt.
# The choice per model is made on val/mase (tie-break val/smape) from $RUNS/NAME/metrics.json:
#   benchmarks/m4_sweep.sh --table   prints every run's validation scores (and nothing from test);
#   --report (below) reads test, once the choice is made
set -u
RUNS=${RUNS:-/tmp/m4runs}
PY=${PY:-.venv/bin/python}
B="--data_path data/m4_weekly_long.csv --series_id unique_id --split last_horizon --horizon 13 --seq_len 52 --logger csv --epochs 20 --trainer.limit_train_batches 200"

declare -A CFG
for m in lstm gru mingru lstm_attention transformer; do
  CFG[${m}_default]="--model $m"
  CFG[${m}_mae]="--model $m --loss mae"
  CFG[${m}_mae_s26]="--model $m --loss mae --seq_len 26"
  CFG[${m}_mae_last]="--model $m --loss mae --revin_mode last"
done
CFG[linear_default]="--model linear"
CFG[linear_mae]="--model linear --loss mae"
ORDER="linear_default linear_mae lstm_default lstm_mae gru_default gru_mae mingru_default mingru_mae
lstm_attention_default lstm_attention_mae transformer_default transformer_mae
lstm_mae_s26 gru_mae_s26 mingru_mae_s26 lstm_attention_mae_s26 transformer_mae_s26
lstm_mae_last gru_mae_last mingru_mae_last lstm_attention_mae_last transformer_mae_last"

if [ "${1:-}" = "--table" ]; then
  for d in "$RUNS"/*/metrics.json; do
    n=$(basename "$(dirname "$d")")
    python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"{sys.argv[2]:32s} val sMAPE {m['val/smape']:7.3f}  val MASE {m['val/mase']:6.3f}  epochs {m['epochs_trained']}\")" "$d" "$n"
  done
  exit 0
fi

# benchmarks/m4_sweep.sh --report NAME ...   the chosen configurations only: mean ± std over NAME, NAME_seed*
if [ "${1:-}" = "--report" ]; then
  shift
  python3 - "$RUNS" "$@" <<'PY'
import glob, json, statistics, sys
runs, names = sys.argv[1], sys.argv[2:]
keys = ["val/smape", "val/mase", "test/smape", "test/mase", "test/owa", "epochs_trained"]
print("| configuration | runs | " + " | ".join(keys) + " |")
print("|---|---|" + "---|" * len(keys))
for name in names:
    found = [json.load(open(f)) for f in sorted(glob.glob(f"{runs}/{name}/metrics.json") + glob.glob(f"{runs}/{name}_seed*/metrics.json"))]
    cells = []
    for key in keys:
        values = [m[key] for m in found]
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        cells.append(f"{statistics.mean(values):.3f}{spread}")
    print(f"| {name} | {len(found)} | " + " | ".join(cells) + " |")
PY
  exit 0
fi

mkdir -p "$RUNS"
for name in ${@:-$ORDER}; do
  base=${name%_seed*}; flags=${CFG[$base]:-}
  [ -z "$flags" ] && { echo "unknown configuration $name" >&2; exit 2; }
  [ "$name" != "$base" ] && flags="$flags --seed ${name##*_seed}"
  [ -f "$RUNS/$name/metrics.json" ] && continue
  start=$(date +%s)
  OMP_NUM_THREADS=1 WANDB_MODE=disabled $PY main.py $B $flags --output_dir "$RUNS/$name" > "$RUNS/$name.log" 2>&1
  rc=$?
  echo "$name rc=$rc wall=$(( $(date +%s) - start ))s flags: $flags" >> "$RUNS/times.txt"
done
