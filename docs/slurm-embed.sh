#!/bin/bash
# One shard of `fovea embed` per array task: sbatch --array=1-N docs/slurm-embed.sh
# (see docs/sharding.md). N is the array's size; each task writes part-K.npy and its manifest.
#SBATCH --job-name=fovea-embed
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=fovea-embed-%A_%a.log
set -euo pipefail
export FOVEA_CACHE=${FOVEA_CACHE:-/shared/fovea-cache}
OUT=${OUT:-/shared/out}
mkdir -p "$OUT"
K=$SLURM_ARRAY_TASK_ID
N=$SLURM_ARRAY_TASK_COUNT
fovea embed fashion-mnist --model fashion-cnn --threads "$SLURM_CPUS_PER_TASK" --shard "$K/$N" \
  -o "$OUT/part-$K.npy" --labels "$OUT/part-$K-labels.npy" --paths "$OUT/part-$K.txt"
