#!/usr/bin/env bash
# The RMA-per-level study end to end (benchmarks/studies/ktc_rma_levels.py): data (skipped when
# the files exist; the first 800 training samples and the first 100 validation phantoms of the
# shipped model's data sets, since a sample depends only on (seed, index)), 9 trainings,
# evaluation. Resumable. Logs to logs/ktc_rma_levels.log; about 100 min on 2 CPU cores.
#   bash benchmarks/studies/ktc_rma_levels.sh            # from anywhere in the repository
#   bash benchmarks/studies/ktc_rma_levels.sh --quick    # toy size in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work results=$work log=$work/log n_train=8 n_val=4
    size=(--runs "$work/runs" --train-samples 8 --epochs 1 --batch-size 4 --samples 2 --seeds 1)
else
    data=data results=benchmarks/results log=logs/ktc_rma_levels.log n_train=800 n_val=100 size=()
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -f "$data/ktc_train800.h5" ] || invtools generate ktc2023 --out "$data/ktc_train800.h5" -n "$n_train" --seed 1 --workers 2
[ -f "$data/ktc_val100.h5" ] || invtools generate ktc2023 --out "$data/ktc_val100.h5" -n "$n_val" --seed 3
t0=$(date +%s)
python -m benchmarks.studies.ktc_rma_levels --train "$data/ktc_train800.h5" --val "$data/ktc_val100.h5" \
    "${size[@]}" --json "$results/ktc_rma_levels.json" --quiet | tee "$results/ktc_rma_levels.txt"
echo "study took $(( $(date +%s) - t0 )) s"
echo "done $(date -u +%FT%TZ)"
