#!/usr/bin/env bash
# The per-level KTC2023 table of benchmarks/README.md ("KTC2023 at every difficulty level"), end
# to end: the classical methods (Gauss-Newton on all 100 phantoms per row), the shipped model
# (labels learned at 256 x 256), the same U-Net cut by levels before the refiner (f122e0d) and
# the complete-data model before masks (7672664), then the combined table with paired intervals
# against the shipped model. Needs data/ktc_train.h5 (bash benchmarks/studies/ktc_model.sh makes it) for
# the broken row's exclusion set. Logs to logs/ktc_levels.log; about 1 h on 2 CPU cores.
#   bash benchmarks/studies/ktc_levels.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p data logs
exec > >(tee -a logs/ktc_levels.log) 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD)"
[ -f data/ktc_train.h5 ] || invtools generate ktc2023 --out data/ktc_train.h5 -n 10000 --seed 1 --workers 2
git show f122e0d:invtools/models/ktc2023.pt > data/ktc2023_unet_levels.pt
git show 7672664:invtools/models/ktc2023.pt > data/ktc2023_complete_data.pt
python -m benchmarks.studies.ktc --samples 100 --gn-samples 100 --methods baseline linearized gn \
    --train data/ktc_train.h5 --json benchmarks/results/ktc_levels_classical.json
python -m benchmarks.studies.ktc --samples 100 --methods --train data/ktc_train.h5 \
    --models shipped=invtools/models/ktc2023.pt "U-Net + levels"=data/ktc2023_unet_levels.pt \
    previous=data/ktc2023_complete_data.pt --json benchmarks/results/ktc_levels_models.json
python -m benchmarks.studies.ktc --methods --reference shipped \
    --from-json benchmarks/results/ktc_levels_classical.json benchmarks/results/ktc_levels_models.json \
    | tee benchmarks/results/ktc_levels.txt
echo "done $(date -u +%FT%TZ)"
