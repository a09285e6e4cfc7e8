#!/usr/bin/env bash
# Determinism of `irnn recipe g2p` (ctest Cli.G2pRecipeDeterministic). Usage: g2p_recipe_determinism_test.sh
# PATH_TO_IRNN (built with libtorch). Runs the whole recipe twice, in two processes, with the same
# (default) seed and --threads 1 on a tiny synthetic dictionary (every 2- and 3-letter word over
# "abcdeh", a few seconds each) and requires byte-identical float.pt and g2p.irnn and the same losses
# and error rates in report.json; a third run with --seed 2 must give a different float.pt (the option
# reaches the recipe). Two processes matter: libtorch's global generator starts from a
# different seed in each, so any weights drawn before the recipe seeds it show up here. It is not a
# quality check (the model is far too briefly trained) and not a test of the integer numerics.
set -u

if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH_TO_IRNN (an executable)" >&2
  exit 2
fi
irnn=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/irnn_g2p_det.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! "$irnn" recipe --help 2>/dev/null | grep -q 'g2p'; then
  echo "g2p_recipe_determinism_test: FAIL: '$irnn recipe --help' does not list g2p (built without libtorch?)" >&2
  exit 1
fi

# The tiny CMUdict-format dictionary: each letter one phone, "ch" the one phone CH (252 words).
awk 'BEGIN {
  split("a b c d e h", L, " "); split("AE B K D EH HH", P, " ");
  for (i = 1; i <= 6; i++) ph[L[i]] = P[i];
  n = 0;
  for (a = 1; a <= 6; a++) for (b = 1; b <= 6; b++) {
    w[++n] = L[a] L[b];
    for (c = 1; c <= 6; c++) w[++n] = L[a] L[b] L[c];
  }
  for (k = 1; k <= n; k++) {
    s = w[k]; out = s;
    for (j = 1; j <= length(s); j++) {
      ch = substr(s, j, 1);
      if (ch == "c" && substr(s, j + 1, 1) == "h") { out = out " CH"; j++ } else out = out " " ph[ch];
    }
    print out;
  }
}' >"$work/tiny.dict"

failures=0
for run in 1 2 3; do
  seed=1
  [ "$run" -eq 3 ] && seed=2
  if ! "$irnn" recipe g2p --data "$work/tiny.dict" --out "$work/r$run" --epochs 2 --qat-epochs 1 --qat-examples 50 \
       --test-words 5 --threads 1 --seed "$seed" </dev/null >"$work/out$run" 2>"$work/err$run"; then
    echo "FAIL: run $run of 'irnn recipe g2p' failed:" >&2
    tail -n 5 "$work/err$run" >&2
    exit 1
  fi
done
for f in float.pt g2p.irnn; do
  if ! cmp "$work/r1/$f" "$work/r2/$f" >&2; then
    echo "FAIL: $f differs between two runs with the same seed and --threads 1" >&2
    failures=$((failures + 1))
  fi
done
if cmp -s "$work/r1/float.pt" "$work/r3/float.pt"; then
  echo "FAIL: float.pt is the same with --seed 1 and --seed 2 (is --seed ignored?)" >&2
  failures=$((failures + 1))
fi
# report.json without the timings (seconds, words per second).
strip() { sed -E 's/"[a-z_]*(seconds|_per_s)": [0-9.e+-]+(, )?//g' "$1"; }
if [ "$(strip "$work/r1/report.json")" != "$(strip "$work/r2/report.json")" ]; then
  echo "FAIL: report.json differs beyond its timings:" >&2
  echo "  run 1: $(strip "$work/r1/report.json")" >&2
  echo "  run 2: $(strip "$work/r2/report.json")" >&2
  failures=$((failures + 1))
fi
if ! grep -q '"float_train_loss_per_epoch": \[[0-9]' "$work/r1/report.json"; then
  echo "FAIL: report.json has no float training losses: $(cat "$work/r1/report.json")" >&2
  failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
  echo "g2p_recipe_determinism_test: FAIL: $failures checks failed" >&2
  exit 1
fi
echo "g2p_recipe_determinism_test: PASS: two runs gave identical float.pt, g2p.irnn and report.json" \
     "($(grep -o '"float_train_loss_per_epoch": \[[^]]*\]' "$work/r1/report.json"))"
