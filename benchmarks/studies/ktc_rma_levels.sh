#!/usr/bin/env bash
# The RMA-per-level study end to end (benchmarks/studies/ktc_rma_levels.py): data (skipped when the files
# exist; the first 800 training samples and the first 100 validation phantoms of the shipped
# model's data sets, since a sample depends only on (seed, index)), 9 trainings, evaluation.
# Resumable. Logs to logs/ktc_rma_levels.log.
#   bash benchmarks/studies/ktc_rma_levels.sh       # from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p data logs
exec > >(tee -a logs/ktc_rma_levels.log) 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD)"
[ -f data/ktc_train800.h5 ] || invtools generate ktc2023 --out data/ktc_train800.h5 -n 800 --seed 1 --workers 2
[ -f data/ktc_val100.h5 ] || invtools generate ktc2023 --out data/ktc_val100.h5 -n 100 --seed 3
t0=$(date +%s)
python -m benchmarks.studies.ktc_rma_levels --train data/ktc_train800.h5 --val data/ktc_val100.h5 \
    --json benchmarks/results/ktc_rma_levels.json --quiet | tee benchmarks/results/ktc_rma_levels.txt
echo "study took $(( $(date +%s) - t0 )) s"
echo "done $(date -u +%FT%TZ)"
