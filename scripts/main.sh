#!/usr/bin/env bash
# The README's main command. Installs what the build needs (scripts/install_deps.sh), builds the irnn
# tool in Release (build/release), then runs the TFLite 8x8_16 integer LSTM over a 100-step sequence on a
# random model and prints its throughput, on every kernel path this machine has:
#   1. n_input = n_cell = n_output = 256, batch 1
#   2. the same with integer LayerNorm and a projection to 128 outputs
#   3. configuration 1 with batch 8
#   4. configuration 1 with iRNN piecewise-linear (PWL) activations instead of TFLite's fixed-point ones
# With arguments, runs `irnn lstm-run ARGS...` once instead (see `irnn lstm-run --help`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$jobs" --target irnn_cli
irnn=build/release/tools/irnn/irnn
echo
"$irnn" --version
echo

if [ "$#" -gt 0 ]; then
  exec "$irnn" lstm-run "$@"
fi

paths=(scalar)
if "$irnn" --version | grep -q '^kernel paths available:.* avx2'; then paths+=(avx2); fi

field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" <<<"$2"; }

configs=(
  "--input 256 --cell 256 --steps 100 --batch 1"
  "--input 256 --cell 256 --output 128 --layer-norm --steps 100 --batch 1"
  "--input 256 --cell 256 --steps 100 --batch 8"
  "--input 256 --cell 256 --steps 100 --batch 1 --activation pwl"
)
printf '%-72s %-7s %10s %10s %11s %8s  %s\n' "irnn lstm-run" path "us/step" "steps/s" "frames/s" GOPS "output checksum"
for config in "${configs[@]}"; do
  for path in "${paths[@]}"; do
    # shellcheck disable=SC2086  # $config is a list of arguments
    json=$("$irnn" lstm-run $config --repeats 20 --path "$path" --json)
    printf '%-72s %-7s %10s %10s %11s %8s  %s\n' "$config" "$path" "$(field us_per_step_median "$json")" \
      "$(field steps_per_s "$json")" "$(field frames_per_s "$json")" "$(field gops "$json")" \
      "$(field output_checksum "$json")"
  done
done
echo
echo "Median of 20 timed runs of 100 steps each after one warm-up run; GOPS counts 2 operations per"
echo "multiply-accumulate of the gate and projection matrices. The same checksum on every path means the"
echo "paths computed the same integers. Details of one run: $irnn lstm-run --help"
