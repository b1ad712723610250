#!/bin/bash
# Submit a whole board: generate, then N judge workers (a job array, one GPU node each, all on
# one PostgreSQL store), then `arena rate` once every worker has ended (afterany: a worker that
# failed or hit its time limit leaves its pairs to the next run, the ratings still refresh).
#
#   export ARENA_DB_PASSWORD=...                  # the variable storage_password_env names
#   deploy/slurm/submit-board.sh 8                 # 8 judge workers
set -euo pipefail

WORKERS="${1:-4}"
if ! [[ "$WORKERS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [number of judge workers]" >&2
    exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
SCRIPT="$HERE/arena-board.sbatch"
export ARENA_HOME="${ARENA_HOME:-$(dirname "$(dirname "$HERE")")}"

generate=$(ARENA_STAGE=generate sbatch --parsable --export=ALL --job-name=arena-generate "$SCRIPT")
judges=$(ARENA_STAGE=judge sbatch --parsable --export=ALL --job-name=arena-judge \
    --dependency="afterok:${generate%%;*}" --array="0-$((WORKERS - 1))" "$SCRIPT")
rate=$(ARENA_STAGE=rate sbatch --parsable --export=ALL --job-name=arena-rate --gres=gpu:0 \
    --dependency="afterany:${judges%%;*}" "$SCRIPT")
echo "generate ${generate%%;*}, judge workers ${judges%%;*} (x$WORKERS), rate ${rate%%;*}"
