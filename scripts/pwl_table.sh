#!/usr/bin/env bash
# Regenerates the pieces-vs-error table of docs/pwl.md with the irnn CLI (build/release/tools/irnn/irnn
# unless IRNN is set): sigmoid, tanh and exp on the Q3.12 int16 input grid, 8- and 16-bit outputs,
# tolerances 0.5, 1, 2, 4 LSB, greedy and optimal fitters (both keep monotone tables), plus greedy
# without the monotone constraint for comparison. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
irnn=${IRNN:-build/release/tools/irnn/irnn}
[ -x "$irnn" ] || { echo "pwl_table: $irnn not found; build first (bash scripts/main.sh)" >&2; exit 1; }

field() { sed -n "s/.*\"$1\": \\([^,}]*\\).*/\\1/p"; }

echo "| function | output | tolerance (LSB) | greedy pieces | greedy max err | optimal pieces | optimal max err | greedy, no monotone constraint |"
echo "|---|---|---|---|---|---|---|---|"
for fn in sigmoid tanh exp; do
  for ob in 8 16; do
    odd=(); [ "$fn" = tanh ] && odd=(--odd)
    for tol in 0.5 1 2 4; do
      row="| $fn | int$ob | $tol |"
      for variant in greedy optimal greedy-free; do
        fitter=${variant%-free}; extra=(); [ "$variant" = greedy-free ] && extra=(--no-monotone)
        json=$("$irnn" pwl --fn "$fn" --in-bits 16 --in-scale 2^-12 --out-bits "$ob" --max-err "$tol" \
                 --fitter "$fitter" "${odd[@]}" "${extra[@]}" --json || true)
        pieces=$(echo "$json" | field pieces); err=$(echo "$json" | field max_err_lsb)
        met=$(echo "$json" | field tolerance_met)
        [ "$met" = true ] || pieces="> 4096 (cap)"
        if [ "$variant" = greedy-free ]; then row="$row $pieces |"; else row="$row $pieces | $err |"; fi
      done
      echo "$row"
    done
  done
done
