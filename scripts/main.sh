#!/usr/bin/env bash
# The README's main command: the whole iRNN pipeline on data a fresh Debian machine gets from its
# package registry. Installs what it needs (scripts/install_deps.sh), builds the irnn tool in Release
# (build/main), writes the King James Bible (package bible-kjv) as plain text, then runs
# `irnn recipe kjv-tiny`: trains a small float LSTM language model, fine-tunes it with
# quantization-aware training (iRNN: per-channel int8 weights with power-of-two scales, PWL activations;
# numerics.md §7.1.1) and quantizes it after
# training (TFLite style), exports both to .irnn files, runs them with the integer-only runtime and prints
# float vs integer perplexity, training and inference tokens/s and model sizes. Finally it times the
# integer LSTM layer alone (irnn lstm-run) on every kernel path. About 10-15 minutes on 2 cores.
#   bash scripts/main.sh [OUT_DIR]      (default: out/kjv)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build/main -DCMAKE_BUILD_TYPE=Release -DIRNN_BUILD_TESTS=OFF -DIRNN_BUILD_BENCH=OFF >/dev/null
cmake --build build/main -j "$jobs" --target irnn_cli
irnn=build/main/tools/irnn/irnn
echo
"$irnn" --version
echo

out=${1:-out/kjv}
mkdir -p "$out"
if [ ! -s "$out/kjv.txt" ]; then
  # One verse a line; drop the "Ge1:1" reference that starts each line.
  bible -f "Gen1:1-Rev22:21" | sed 's/^[^ ]* //' > "$out/kjv.txt"
fi
echo "data: $(wc -w < "$out/kjv.txt") words of the King James Bible in $out/kjv.txt"
"$irnn" recipe kjv-tiny --data "$out/kjv.txt" --out "$out" --pot-scales
echo

paths=(scalar)
if "$irnn" --version | grep -q '^kernel paths available:.* avx2'; then paths+=(avx2); fi
if "$irnn" --version | grep -q '^kernel paths available:.* avxvnni'; then paths+=(avxvnni); fi
if "$irnn" --version | grep -q '^kernel paths available:.* avx512vnni'; then paths+=(avx512vnni); fi
if "$irnn" --version | grep -q '^kernel paths available:.* amx'; then paths+=(amx); fi

field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" <<<"$2"; }

configs=(
  "--input 256 --cell 256 --steps 100 --batch 1"
  "--input 256 --cell 256 --output 128 --layer-norm --steps 100 --batch 1"
  "--input 256 --cell 256 --steps 100 --batch 8"
  "--input 256 --cell 256 --steps 100 --batch 1 --activation pwl"
  "--input 256 --cell 256 --steps 100 --batch 1 --pot"
  "--input 256 --cell 256 --steps 100 --batch 16 --pot"
)
printf '%-72s %-10s %10s %10s %11s %8s  %s\n' "irnn lstm-run" path "us/step" "steps/s" "frames/s" GOPS "output checksum"
for config in "${configs[@]}"; do
  for path in "${paths[@]}"; do
    # shellcheck disable=SC2086  # $config is a list of arguments
    json=$("$irnn" lstm-run $config --repeats 20 --path "$path" --json)
    printf '%-72s %-10s %10s %10s %11s %8s  %s\n' "$config" "$path" "$(field us_per_step_median "$json")" \
      "$(field steps_per_s "$json")" "$(field frames_per_s "$json")" "$(field gops "$json")" \
      "$(field output_checksum "$json")"
  done
done
echo
echo "Median of 20 timed runs of 100 steps each after one warm-up run; GOPS counts 2 operations per"
echo "multiply-accumulate of the gate and projection matrices. The same checksum on every path means the"
echo "paths computed the same integers. Details of one run: $irnn lstm-run --help"
