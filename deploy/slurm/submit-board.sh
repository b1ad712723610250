#!/bin/bash
# Submit a whole board: generate, then N judge workers (a job array, one GPU node each, all on
# one PostgreSQL store), then `arena rate` once every worker has ended (afterany: a worker that
# failed or hit its time limit leaves its pairs to the next run, the ratings still refresh).
#
#   export ARENA_DB_PASSWORD=...                  # the variable storage_password_env names
#   deploy/slurm/submit-board.sh 8                 # 8 judge workers
#   GENERATE_GPUS=4 deploy/slurm/submit-board.sh 8 # generate on 4 GPUs (a 72B candidate's tensor_parallel_size)
set -euo pipefail

WORKERS="${1:-4}"
GENERATE_GPUS="${GENERATE_GPUS:-1}"
if ! [[ "$WORKERS" =~ ^[1-9][0-9]*$ && "$GENERATE_GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: [GENERATE_GPUS=n] $0 [number of judge workers]" >&2
    exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
SCRIPT="$HERE/arena-board.sbatch"
export ARENA_HOME="${ARENA_HOME:-$(dirname "$(dirname "$HERE")")}"

generate=$(ARENA_STAGE=generate sbatch --parsable --export=ALL --job-name=arena-generate \
    --gres="gpu:$GENERATE_GPUS" "$SCRIPT")
judges=$(ARENA_STAGE=judge sbatch --parsable --export=ALL --job-name=arena-judge \
    --dependency="afterok:${generate%%;*}" --array="0-$((WORKERS - 1))" "$SCRIPT")
rate=$(ARENA_STAGE=rate sbatch --parsable --export=ALL --job-name=arena-rate --gres=gpu:0 \
    --dependency="afterany:${judges%%;*}" "$SCRIPT")
echo "generate ${generate%%;*}, judge workers ${judges%%;*} (x$WORKERS), rate ${rate%%;*}"
