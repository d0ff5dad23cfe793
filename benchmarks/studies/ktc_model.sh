#!/usr/bin/env bash
# The shipped KTC2023 model (invtools/models/ktc2023.pt), end to end on 2 CPU cores (or CUDA if
# present): data (skipped when the files exist), training, export, and the 256 x 256 label
# refiner trained on the exported model's images (benchmarks/studies/ktc_fine_labels.py). Logs to
# logs/ktc_model.log; about 1 h on 2 CPU cores.
#   bash benchmarks/studies/ktc_model.sh            # from anywhere in the repository
#   bash benchmarks/studies/ktc_model.sh --quick    # every step at toy size in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work n_train=8 n_val=4 log=$work/log run=$work/run config=$work/train.toml
    sed -e 's|"\.\./data/|"|' -e 's|^out = .*|out = "run"|' -e 's|^epochs = .*|epochs = 1|' \
        -e 's|^batch_size = .*|batch_size = 4|' datasets/train_ktc_unet.toml > "$config"
    refiner=(--n-train 8 --epochs 1 --batch 4)
else
    data=data n_train=10000 n_val=300 log=logs/ktc_model.log run=runs/ktc-unet
    config=datasets/train_ktc_unet.toml refiner=()
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -f "$data/ktc_train.h5" ] || invtools generate ktc2023 --out "$data/ktc_train.h5" -n "$n_train" --seed 1 --workers 2
[ -f "$data/ktc_val.h5" ] || invtools generate ktc2023 --out "$data/ktc_val.h5" -n "$n_val" --seed 3
t0=$(date +%s)
invtools train "$config" ${RESUME:+--resume}
echo "training took $(( $(date +%s) - t0 )) s"
python -c "from invtools.training.trained_model import export_model; export_model('$run/best.pt', '$run/unet.pt')"
rm -f "$run/refined.pt"
python -m benchmarks.studies.ktc_fine_labels --model "$run/unet.pt" --train "$data/ktc_train.h5" --samples 0 \
    --export "$run/refined.pt" "${refiner[@]}"
if [ "${1:-}" != "--quick" ]; then
    cp "$run/refined.pt" invtools/models/ktc2023.pt
    ls -l invtools/models/ktc2023.pt
fi
echo "done $(date -u +%FT%TZ)"
