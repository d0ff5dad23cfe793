#!/usr/bin/env bash
# The per-level KTC2023 table of benchmarks/README.md ("KTC2023 at every difficulty level"), end
# to end: the classical methods (Gauss-Newton on all 100 phantoms per row), the shipped model
# (labels learned at 256 x 256), the same U-Net cut by levels before the refiner (f122e0d) and
# the complete-data model before masks (7672664), then the combined table with paired intervals
# against the shipped model. Needs data/ktc_train.h5 (bash benchmarks/studies/ktc_model.sh makes
# it) for the broken row's exclusion set. Logs to logs/ktc_levels.log; about 1 h on 2 CPU cores.
#   bash benchmarks/studies/ktc_levels.sh            # from anywhere in the repository
#   bash benchmarks/studies/ktc_levels.sh --quick    # toy size in a temporary folder, the shipped
#                                                    # model standing in for the two older ones
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work results=$work log=$work/log n_train=8 size=(--samples 2 --gn-samples 1)
    unet_levels=invtools/models/ktc2023.pt complete_data=invtools/models/ktc2023.pt
else
    data=data results=benchmarks/results log=logs/ktc_levels.log n_train=10000
    size=(--samples 100 --gn-samples 100)
    unet_levels=data/ktc2023_unet_levels.pt complete_data=data/ktc2023_complete_data.pt
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -f "$data/ktc_train.h5" ] || invtools generate ktc2023 --out "$data/ktc_train.h5" -n "$n_train" --seed 1 --workers 2
if [ "${1:-}" != "--quick" ]; then
    git show f122e0d:invtools/models/ktc2023.pt > "$unet_levels"
    git show 7672664:invtools/models/ktc2023.pt > "$complete_data"
fi
python -m benchmarks.studies.ktc "${size[@]}" --methods baseline linearized gn \
    --train "$data/ktc_train.h5" --json "$results/ktc_levels_classical.json"
python -m benchmarks.studies.ktc "${size[@]}" --methods --train "$data/ktc_train.h5" \
    --models shipped=invtools/models/ktc2023.pt "U-Net + levels=$unet_levels" \
    "previous=$complete_data" --json "$results/ktc_levels_models.json"
python -m benchmarks.studies.ktc --methods --reference shipped \
    --from-json "$results/ktc_levels_classical.json" "$results/ktc_levels_models.json" \
    | tee "$results/ktc_levels.txt"
echo "done $(date -u +%FT%TZ)"
