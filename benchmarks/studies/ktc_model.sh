#!/usr/bin/env bash
# The shipped KTC2023 model (invtools/models/ktc2023.pt), end to end on 2 CPU cores (or CUDA if
# present): data (skipped when the files exist), training, export, and the 256 x 256 label
# refiner trained on the exported model's images (benchmarks/studies/ktc_fine_labels.py). Logs to
# logs/ktc_model.log.
#   bash benchmarks/studies/ktc_model.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p data logs
exec > >(tee -a logs/ktc_model.log) 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD)"
[ -f data/ktc_train.h5 ] || invtools generate ktc2023 --out data/ktc_train.h5 -n 10000 --seed 1 --workers 2
[ -f data/ktc_val.h5 ] || invtools generate ktc2023 --out data/ktc_val.h5 -n 300 --seed 3
t0=$(date +%s)
invtools train datasets/train_ktc_unet.toml ${RESUME:+--resume}
echo "training took $(( $(date +%s) - t0 )) s"
python -c "from invtools.training.trained_model import export_model; export_model('runs/ktc-unet/best.pt', 'runs/ktc-unet/unet.pt')"
rm -f runs/ktc-unet/refined.pt
python -m benchmarks.studies.ktc_fine_labels --model runs/ktc-unet/unet.pt --train data/ktc_train.h5 --samples 0 \
    --export runs/ktc-unet/refined.pt
cp runs/ktc-unet/refined.pt invtools/models/ktc2023.pt
ls -l invtools/models/ktc2023.pt
echo "done $(date -u +%FT%TZ)"
