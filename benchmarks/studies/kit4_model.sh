#!/usr/bin/env bash
# The shipped KIT4 tank model (invtools/models/kit4.pt), end to end on 2 CPU cores (or CUDA if
# present): the documented commands of docs/your-own-tank.md (data skipped when the files exist,
# training resumed with RESUME=1), then the export. Logs to logs/kit4_model.log with each step's
# wall time; needs the KIT4 files at ../shared/kit4 (the recipe's reference file).
#   bash benchmarks/studies/kit4_model.sh            # from anywhere in the repository
#   bash benchmarks/studies/kit4_model.sh --quick    # every step at toy size in a temporary folder
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--quick" ]; then
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    data=$work n_train=8 n_val=4 log=$work/log run=$work/run config=$work/train.toml
    sed -e 's|"\.\./data/|"|' -e 's|^out = .*|out = "run"|' -e 's|^epochs = .*|epochs = 1|' \
        -e 's|^batch_size = .*|batch_size = 4|' datasets/train_kit4.toml > "$config"
else
    data=data n_train=4000 n_val=200 log=logs/kit4_model.log run=runs/kit4-unet
    config=datasets/train_kit4.toml
fi
mkdir -p "$data" "$(dirname "$log")"
exec > >(tee -a "$log") 2>&1
echo "start $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
t0=$(date +%s)
[ -f "$data/kit4_train.h5" ] || invtools generate datasets/recipes/kit4.toml --out "$data/kit4_train.h5" \
    -n "$n_train" --seed 1 --workers 2 --quiet
[ -f "$data/kit4_val.h5" ] || invtools generate datasets/recipes/kit4.toml --out "$data/kit4_val.h5" \
    -n "$n_val" --seed 3 --quiet
t1=$(date +%s)
echo "data took $(( t1 - t0 )) s"
invtools train "$config" --quiet ${RESUME:+--resume}
t2=$(date +%s)
echo "training took $(( t2 - t1 )) s; in all $(( t2 - t0 )) s"
python -c "from invtools.training.trained_model import export_model; export_model('$run/best.pt', '$run/kit4.pt')"
if [ "${1:-}" != "--quick" ]; then
    cp "$run/kit4.pt" invtools/models/kit4.pt
    ls -l invtools/models/kit4.pt
fi
echo "done $(date -u +%FT%TZ)"
