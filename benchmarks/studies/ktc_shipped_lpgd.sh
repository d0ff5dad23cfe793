#!/usr/bin/env bash
# The physics on top of the shipped KTC2023 model, end to end on 2 CPU cores (or CUDA):
#   1. the shipped model's data (datasets/train_ktc_unet.toml's: ktc2023 preset, 10k + 300;
#      skipped when the files exist);
#   2. its U-Net frozen, then 5 LPGD steps on the masked CEM data fit
#      (datasets/train_ktc_shipped_lpgd.toml), then its labels learned at 256 x 256 as the
#      shipped model's were (benchmarks/studies/ktc_fine_labels.py --export);
#   3. the result beside the shipped model on the 100 simulated phantoms per level of
#      benchmarks/studies/ktc.py (paired: the same phantoms and masks) and on the 28 real cases.
# Every step can be stopped and re-run (training resumes from last.pt, finished steps are
# skipped). Logs to logs/ktc_shipped_lpgd.log. Started in the background by
#   nohup bash benchmarks/studies/ktc_shipped_lpgd.sh > /dev/null 2>&1 &
#   bash benchmarks/studies/ktc_shipped_lpgd.sh --quick    # every step at toy size in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/../.."
config=datasets/train_ktc_shipped_lpgd.toml run=runs/ktc-shipped-lpgd
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work/data n_train=8 n_val=4 log=$work/log samples=2 refiner=(--n-train 8 --epochs 1 --batch 4)
    real=(--quick) results=$work
    sed -e 's|"\.\./data/|"data/|g' -e 's|"\.\./invtools/|"'"$PWD"'/invtools/|' -e 's|^out = .*|out = "run"|' \
        -e 's|^epochs = .*|epochs = 1|' -e 's|^batch_size = .*|batch_size = 4|' "$config" > "$work/train.toml"
    config=$work/train.toml run=$work/run
else
    data=data n_train=10000 n_val=300 log=logs/ktc_shipped_lpgd.log samples=100 refiner=() real=()
    results=benchmarks/results
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -f "$data/ktc_train.h5" ] || invtools generate ktc2023 --out "$data/ktc_train.h5" -n "$n_train" --seed 1 \
    --workers 2 --quiet
[ -f "$data/ktc_val.h5" ] || invtools generate ktc2023 --out "$data/ktc_val.h5" -n "$n_val" --seed 3 --quiet
if [ ! -f "$run/model.pt" ]; then
    t0=$(date +%s)
    if [ -f "$run/last.pt" ]; then invtools train "$config" --resume --quiet; else invtools train "$config" --quiet; fi
    echo "$config: training took $(( $(date +%s) - t0 )) s"
    python -c "from invtools.training.trained_model import export_model; export_model('$run/best.pt', '$run/model.pt')"
fi
if [ ! -f "$run/refined.pt" ]; then
    t0=$(date +%s)
    python -m benchmarks.studies.ktc_fine_labels --model "$run/model.pt" --train "$data/ktc_train.h5" --samples 0 \
        --export "$run/refined.pt" "${refiner[@]}"
    echo "labels at 256 x 256: $(( $(date +%s) - t0 )) s"
fi
python -m benchmarks.studies.ktc --samples "$samples" --gn-samples 0 --methods --train "$data/ktc_train.h5" \
    --models shipped-lpgd="$run/refined.pt" --json "$results/ktc_shipped_lpgd_levels.json"
[ "${1:-}" = "--quick" ] || python -m benchmarks.studies.ktc --methods --reference shipped \
    --from-json benchmarks/results/ktc_levels_models.json "$results/ktc_shipped_lpgd_levels.json"
python -m benchmarks.studies.ktc_real --methods --models shipped=invtools/models/ktc2023.pt \
    shipped-lpgd="$run/refined.pt" "${real[@]}" --sim-json benchmarks/results/ktc_levels_models.json \
    "$results/ktc_shipped_lpgd_levels.json" --json "$results/ktc_shipped_lpgd_real.json"
echo "done $(date -u +%FT%TZ)"
