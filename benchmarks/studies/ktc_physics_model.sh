#!/usr/bin/env bash
# The tank model with the physics back in, end to end on 2 CPU cores (or CUDA if present):
#   1. data from datasets/recipes/ktc-targets.toml (the preset with target-like shapes), 10k + 300;
#   2. the U-Net alone (datasets/train_ktc_targets_unet.toml);
#   3. that U-Net frozen, then 5 LPGD steps on the masked CEM data fit, plain and with RMA
#      (datasets/train_ktc_refined.toml, datasets/train_ktc_refined_rma.toml);
#   4. all three on 100 simulated phantoms per level (paired against the U-Net) and on the 28
#      real cases (benchmarks/studies/ktc_real.py).
# Every step can be stopped and re-run: generation resumes by blocks, training from last.pt,
# finished steps are skipped. Logs to logs/ktc_physics_model.log. Started in the background by
#   nohup bash benchmarks/studies/ktc_physics_model.sh > /dev/null 2>&1 &
#   bash benchmarks/studies/ktc_physics_model.sh --quick    # every step at toy size in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/../.."
configs=(datasets/train_ktc_targets_unet.toml datasets/train_ktc_refined.toml datasets/train_ktc_refined_rma.toml)
runs=(runs/ktc-targets-unet runs/ktc-refined runs/ktc-refined-rma)
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work/data n_train=8 n_val=4 log=$work/log samples=2 real=(--quick)
    for i in 0 1 2; do  # the same configs at toy size, their paths inside $work
        sed -e 's|"\.\./|"|g' -e 's|^epochs = .*|epochs = 1|' -e 's|^batch_size = .*|batch_size = 4|' \
            "${configs[$i]}" > "$work/$(basename "${configs[$i]}")"
        configs[$i]=$work/$(basename "${configs[$i]}")
        runs[$i]=$work/${runs[$i]}
    done
    results=$work
else
    data=data n_train=10000 n_val=300 log=logs/ktc_physics_model.log samples=100 real=() results=benchmarks/results
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
recipe=datasets/recipes/ktc-targets.toml
[ -f "$data/ktc_targets_train.h5" ] || invtools generate "$recipe" --out "$data/ktc_targets_train.h5" \
    -n "$n_train" --seed 1 --workers 2 --quiet
[ -f "$data/ktc_targets_val.h5" ] || invtools generate "$recipe" --out "$data/ktc_targets_val.h5" \
    -n "$n_val" --seed 3 --quiet
for i in 0 1 2; do
    run=${runs[$i]}
    if [ -f "$run/model.pt" ]; then echo "${configs[$i]}: done ($run/model.pt)"; continue; fi
    t0=$(date +%s)
    if [ -f "$run/last.pt" ]; then invtools train "${configs[$i]}" --resume --quiet
    else invtools train "${configs[$i]}" --quiet; fi
    echo "${configs[$i]}: training took $(( $(date +%s) - t0 )) s"
    python -c "from invtools.training.trained_model import export_model; export_model('$run/best.pt', '$run/model.pt')"
done
models=(unet="${runs[0]}/model.pt" lpgd="${runs[1]}/model.pt" lpgd-rma="${runs[2]}/model.pt")
python -m benchmarks.studies.ktc --samples "$samples" --gn-samples 0 --methods --models "${models[@]}" \
    --reference unet --json "$results/ktc_physics_levels.json"
python -m benchmarks.studies.ktc_real --methods --models "${models[@]}" "${real[@]}" \
    --sim-json "$results/ktc_physics_levels.json" --json "$results/ktc_physics_real.json"
echo "done $(date -u +%FT%TZ)"
