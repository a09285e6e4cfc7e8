#!/usr/bin/env bash
# Smoke test of the irnn command-line tool (ctest Cli.Smoke). Usage: cli_test.sh PATH_TO_IRNN
# Checks --version and --help, tiny lstm-run runs in every configuration (text and --json), that the
# output is the same on every kernel path and for the same seed, one quick `irnn bench` (irnn only, its
# JSON parsed; no time asserted), and that bad arguments end with a message on stderr and an exit code
# in [1, 127] (an error, not a crash or a signal). Exits 1 if any check fails, listing each failure.
set -u

if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH_TO_IRNN (an executable)" >&2
  exit 2
fi
irnn=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/irnn_cli_test.XXXXXX")
trap 'rm -rf "$work"' EXIT

checks=0
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs irnn with stdin closed; sets rc, and the files $work/out and $work/err.
run() {
  rc=0
  "$irnn" "$@" </dev/null >"$work/out" 2>"$work/err" || rc=$?
  checks=$((checks + 1))
}
show() {
  echo "  stdout: $(head -c 2000 "$work/out")" >&2
  echo "  stderr: $(head -c 2000 "$work/err")" >&2
}
expect_ok() {  # expect_ok DESCRIPTION ARGS...
  local what=$1
  shift
  run "$@"
  if [ "$rc" -ne 0 ]; then
    fail "$what: 'irnn $*' exited $rc, want 0"
    show
    return 1
  fi
  return 0
}
expect_stdout() {  # expect_stdout DESCRIPTION REGEX (on the last run's stdout)
  if ! grep -Eq -- "$2" "$work/out"; then
    fail "$1: stdout does not match /$2/"
    show
  fi
}
expect_error() {  # expect_error ARGS...: a clear error, not a crash
  run "$@"
  if [ "$rc" -eq 0 ]; then
    fail "'irnn $*' exited 0, want an error"
    show
  elif [ "$rc" -ge 128 ]; then
    fail "'irnn $*' exited $rc: killed by a signal (a crash), want an error exit code"
    show
  elif [ ! -s "$work/err" ]; then
    fail "'irnn $*' exited $rc without a message on stderr"
  else
    echo "ok: 'irnn $*' -> exit $rc: $(head -n1 "$work/err")"
  fi
}
json_field() {  # json_field NAME: the value of a string or number field of the last run's JSON line
  sed -n "s/.*\"$1\": \"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" "$work/out" | head -n1
}

# --- version and help -----------------------------------------------------------------------------
if expect_ok "--version" --version; then
  expect_stdout "--version" '^irnn 0\.1\.0$'
  expect_stdout "--version" '^kernel paths available:.* scalar'
  echo "ok: --version: $(tr '\n' ' ' <"$work/out")"
fi
avx2_available=no
grep -q '^kernel paths available:.* avx2' "$work/out" && avx2_available=yes
if expect_ok "--help" --help; then
  expect_stdout "--help" 'lstm-run'
  expect_stdout "--help" '--version'
  echo "ok: --help lists lstm-run"
fi
if expect_ok "lstm-run --help" lstm-run --help; then
  for opt in --input --cell --output --batch --steps --layer-norm --cifg --peephole --rounding --activation --path \
             --repeats --seed --json --pot --weight-bits; do
    expect_stdout "lstm-run --help" " $opt"
  done
  echo "ok: lstm-run --help lists its options"
fi

# --- tiny runs ------------------------------------------------------------------------------------
tiny=(lstm-run --input 3 --cell 5 --steps 4 --repeats 2)
if expect_ok "tiny lstm-run" "${tiny[@]}"; then
  for pattern in 'n_input=3 n_cell=5 n_output=5 batch=1 steps=4' '^  kernel path (scalar|avx2|avxvnni|avx512vnni|amx)$' \
                 'time/step +[0-9.]+ us' '[0-9]+ steps/s, [0-9]+ frames/s, [0-9.]+ GOPS' 'weights +[0-9]+ bytes' \
                 'checksum +[0-9a-f]{16}'; do
    expect_stdout "tiny lstm-run" "$pattern"
  done
  echo "ok: tiny lstm-run: $(grep 'throughput' "$work/out" | sed 's/^ *//')"
fi

if expect_ok "lstm-run --json" "${tiny[@]}" --json; then
  lines=$(wc -l <"$work/out")
  [ "$lines" -eq 1 ] || fail "--json printed $lines lines, want 1"
  expect_stdout "--json" '^\{.*\}$'
  for key in version n_input n_cell n_output batch steps path weights_bytes us_per_step_median steps_per_s \
             frames_per_s gops output_checksum; do
    expect_stdout "--json" "\"$key\": "
  done
  [ "$(json_field n_cell)" = 5 ] || fail "--json: n_cell is '$(json_field n_cell)', want 5"
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["n_input"] == 3 and d["steps"] == 4' \
      <"$work/out" || fail "--json output is not the JSON expected (python3 json.load)"
    echo "ok: --json parses with python3 and has every field"
  else
    echo "ok: --json has every field (python3 not installed: structure checked with grep only)"
  fi
fi

# Every configuration, both roundings, both compat modes, batch > 1.
for config in "--layer-norm" "--cifg" "--peephole" "--output 4" "--output 7 --layer-norm" \
              "--layer-norm --cifg --peephole --output 4" "--rounding single --peephole --layer-norm" \
              "--no-tflite-compat --peephole --layer-norm --output 4" "--batch 3" "--batch 2 --cifg --output 3" \
              "--activation pwl" "--activation pwl --layer-norm --cifg --output 4" "--pot" "--pot --cifg --batch 3" \
              "--pot --activation pwl --output 4" "--pot --layer-norm"; do
  # shellcheck disable=SC2086  # word splitting of $config is intended
  if expect_ok "lstm-run $config" "${tiny[@]}" $config --json; then
    echo "ok: lstm-run $config: checksum $(json_field output_checksum), path $(json_field path)"
  fi
done

# The same seed gives the same output; another seed another output; every path the same output.
checksum() {  # checksum ARGS...: sets sum to the output checksum of a --json run, or FAILED
  sum=FAILED
  if expect_ok "lstm-run $*" lstm-run --input 9 --cell 6 --steps 7 --batch 2 --repeats 1 --layer-norm --json "$@"; then
    sum=$(json_field output_checksum)
  fi
}
checksum --seed 7; c1=$sum
checksum --seed 7; c2=$sum
checksum --seed 8; c3=$sum
{ [ "$c1" = "$c2" ] && [ "$c1" != FAILED ]; } || fail "the same seed gave checksums $c1 and $c2"
[ "$c1" != "$c3" ] || fail "seeds 7 and 8 gave the same checksum $c1"
echo "ok: seed 7 -> $c1 twice, seed 8 -> $c3"
checksum --seed 7 --path scalar; scalar=$sum
[ "$scalar" = "$c1" ] || fail "--path scalar gave checksum $scalar, --path auto $c1"
rc=0
IRNN_PATH=scalar "$irnn" lstm-run --input 9 --cell 6 --steps 7 --batch 2 --repeats 1 --layer-norm --seed 7 --json \
  </dev/null >"$work/out" 2>"$work/err" || rc=$?
checks=$((checks + 1))
if [ "$rc" -eq 0 ] && [ "$(json_field path)" = scalar ] && [ "$(json_field output_checksum)" = "$c1" ]; then
  echo "ok: IRNN_PATH=scalar selects the scalar path"
else
  fail "IRNN_PATH=scalar: exit $rc, path '$(json_field path)', want 0 and scalar"
  show
fi
if [ "$avx2_available" = yes ]; then
  checksum --seed 7 --path avx2; avx2=$sum
  [ "$avx2" = "$scalar" ] || fail "--path avx2 gave checksum $avx2, --path scalar $scalar"
  checksum --seed 7 --activation pwl --path scalar; pwl_scalar=$sum
  checksum --seed 7 --activation pwl --path avx2; pwl_avx2=$sum
  { [ "$pwl_avx2" = "$pwl_scalar" ] && [ "$pwl_scalar" != FAILED ]; } ||
    fail "--activation pwl: --path avx2 gave checksum $pwl_avx2, --path scalar $pwl_scalar"
  checksum --seed 7 --pot --activation pwl --path scalar; pot_scalar=$sum
  checksum --seed 7 --pot --activation pwl --path avx2; pot_avx2=$sum
  { [ "$pot_avx2" = "$pot_scalar" ] && [ "$pot_scalar" != FAILED ] && [ "$pot_scalar" != "$pwl_scalar" ]; } ||
    fail "--pot: --path avx2 gave checksum $pot_avx2, --path scalar $pot_scalar (without --pot: $pwl_scalar)"
  echo "ok: scalar and avx2 paths give the same output (fixed-point $scalar, pwl $pwl_scalar, pot $pot_scalar)"
  checksum --seed 7 --weight-bits 7 --path scalar; w7_scalar=$sum
  checksum --seed 7 --weight-bits 7 --path avx2; w7_avx2=$sum
  { [ "$w7_avx2" = "$w7_scalar" ] && [ "$w7_scalar" != FAILED ] && [ "$w7_scalar" != "$scalar" ]; } ||
    fail "--weight-bits 7: --path avx2 gave checksum $w7_avx2, --path scalar $w7_scalar (8-bit: $scalar)"
  echo "ok: 7-bit weights: scalar and avx2 give the same output ($w7_scalar)"
else
  run lstm-run --input 3 --cell 5 --steps 2 --path avx2
  if [ "$rc" -eq 1 ] && grep -q 'not available' "$work/err"; then
    echo "ok: avx2 is not available here, and --path avx2 says so: $(head -n1 "$work/err")"
  else
    fail "avx2 is not listed by --version, but --path avx2 exited $rc"
    show
  fi
fi

# --- bad arguments ----------------------------------------------------------------------------------
expect_error
expect_error no-such-command
expect_error --no-such-option
expect_error lstm-run --cell 0
expect_error lstm-run --input 0
expect_error lstm-run --input -5
expect_error lstm-run --output 0
expect_error lstm-run --output -1
expect_error lstm-run --cell -5
expect_error lstm-run --cell 70000 --input 1 --output 1
expect_error lstm-run --cell 99999999999
expect_error lstm-run --cell abc
expect_error lstm-run --batch -3
expect_error lstm-run --batch 0
expect_error lstm-run --weight-bits 6
expect_error lstm-run --weight-bits 7 --pot
expect_error lstm-run --batch 100000 --input 1 --cell 1
expect_error lstm-run --steps 0
expect_error lstm-run --steps -1
expect_error lstm-run --steps 2000000000 --batch 1000
expect_error lstm-run --repeats 0
expect_error lstm-run --path bogus
expect_error lstm-run --rounding x
expect_error lstm-run --activation relu
expect_error lstm-run --seed -1
expect_error lstm-run --cell 4 --output 8 --peephole
expect_error lstm-run --cell 100000 --input 100000
expect_error lstm-run --cell 65536 --input 1 --output 1 --batch 65536 --steps 1
expect_error lstm-run --input
# g2p: missing or non-G2P model files, a bad beam, no words.
expect_error g2p /nonexistent.irnn hello
expect_error g2p "$work" hello
expect_error g2p /nonexistent.irnn --beam 0 hello
expect_error g2p /nonexistent.irnn
rc=0
IRNN_PATH=bogus "$irnn" lstm-run --input 3 --cell 5 --steps 2 </dev/null >"$work/out" 2>"$work/err" || rc=$?
checks=$((checks + 1))
if [ "$rc" -ge 1 ] && [ "$rc" -lt 128 ] && grep -q 'IRNN_PATH' "$work/err"; then
  echo "ok: IRNN_PATH=bogus -> exit $rc: $(head -n1 "$work/err")"
else
  fail "IRNN_PATH=bogus: exit $rc, want an error naming IRNN_PATH"
  show
fi

# pwl and inspect (no libtorch needed).
expect_ok "pwl json" pwl --fn tanh --in-bits 8 --in-scale 2^-5 --out-bits 8 --max-err 1 --odd --json && \
  expect_stdout "pwl json keys" '"fn": "tanh".*"pieces": [0-9]+.*"max_err_lsb"'
expect_error pwl --fn nosuch
expect_error pwl --in-bits 40
expect_error pwl --in-scale -3
expect_error pwl --fitter best
printf 'not a model' >"$work/junk.irnn"
expect_error inspect "$work/junk.irnn"
expect_error inspect "$work/missing.irnn"

# --- bench: one quick run (irnn only), its JSON checked; bad values refused. No time is asserted. ------
if expect_ok "bench --help" bench --help; then
  for opt in --json --plot --hidden --batch --steps --threads --repeats --quick --ptb-model --no-peers --cells \
             --lstm-scales; do
    expect_stdout "bench --help" " $opt"
  done
  echo "ok: bench --help lists its options"
fi
# One path and 20 steps keep this quick under ASan+UBSan (the paths are compared bit for bit by the kernel
# and layer tests; here only the command, its grid and its JSON are checked).
if expect_ok "bench --quick --no-peers --json --paths scalar --steps 20" bench --quick --no-peers --json --paths scalar --steps 20; then
  expect_stdout "bench --json" '^\{"tool": "irnn"'
  if command -v python3 >/dev/null 2>&1; then
    if python3 - "$work/out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["command"] == "bench", d["command"]
assert d["config"]["hidden"] == [128, 256] and d["config"]["repeats"] == 3 and d["config"]["steps"] == 20, d["config"]
assert d["config"]["cells"] == ["lstm", "gru"], d["config"]
assert all(r["cell"] in ("lstm", "gru") for r in d["results"] + d["skipped"]), "a result without its cell"
int8 = [r for r in d["results"] if r["runtime"] == "irnn" and r["precision"] == "int8"]
# The LSTM and the GRU on 1 and 2 threads, none of their int8 rows skipped.
for cell, thread_counts in (("lstm", (1, 2)), ("gru", (1, 2))):
    for mode in ("sequence", "streaming"):
        for h in (128, 256):
            for b in (1, 16):
                for threads in thread_counts:
                    for scales in (("tflite", "pot", "tflite7") if cell == "lstm" else (None,)):
                        got = [r for r in int8 if r["cell"] == cell and r["mode"] == mode and r["hidden"] == h
                               and r["batch"] == b and r["threads"] == threads and r["variant"] == "scalar"
                               and r.get("scales") == scales]
                        assert len(got) == 1, ("irnn int8 scalar", cell, scales, mode, h, b, threads, got)
                        assert "limit" in got[0] or "skipped" in d["machine"]["limits"], got[0]
assert not any(s["cell"] == "gru" and s["runtime"] == "irnn" and s["precision"] == "int8" and s["threads"] == 2
               for s in d["skipped"]), ("the irnn int8 GRU on 2 threads is skipped", d["skipped"])
assert all(r["us_per_step"] is not None and r["us_per_step"] > 0 for r in d["results"]), "a time is not positive"
for cell in ("lstm", "gru"):
    for mode in ("sequence", "streaming"):
        assert any(r["cell"] == cell and r["mode"] == mode and r["runtime"] == "irnn" and r["precision"] == "fp32"
                   for r in d["results"]), ("no irnn fp32 result", cell, mode)
peers = {(s["cell"], s["runtime"], s["precision"]) for s in d["skipped"] if s["reason"] == "not run (--no-peers)"}
assert peers == {(c, r, p) for c in ("lstm", "gru") for r, p in (("onednn", "fp32"), ("onednn", "int8"),
                 ("libtorch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"))}, peers
assert "limits" in d["machine"] and "skipped" in d["ptb"], (d["machine"], d["ptb"])
print("ok: bench --quick --no-peers --json: %d results, %d irnn int8" % (len(d["results"]), len(int8)))
PY
    then :; else fail "bench --json output is not the JSON expected (python3 json.load)"; show; fi
  else
    expect_stdout "bench --json" '"runtime": "irnn", "precision": "int8"'
    echo "ok: bench --json has irnn int8 results (python3 not installed: checked with grep only)"
  fi
fi
for bad in "--hidden 0" "--hidden 128,-1" "--hidden 100000" "--batch 0" "--threads 0" "--steps 0" "--repeats 0" \
           "--hidden abc" "--hidden" "--cells rnn" "--lstm-scales nosuch"; do
  # shellcheck disable=SC2086  # word splitting of $bad is intended
  expect_error bench --no-peers $bad
  if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then fail "bench $bad exited $rc, want 1 or 2"; fi
done
run bench --no-peers --hidden 0
grep -q -- '--hidden has 0 but every value must be in \[1, ' "$work/err" ||
  fail "bench --hidden 0: the message does not say what is wrong: $(head -n1 "$work/err")"

# The language-model subcommands exist when the tool was built with libtorch.
if "$irnn" --help 2>/dev/null | grep -q 'recipe'; then
  printf 'one two three\nfour five six\n' >"$work/tiny.txt"
  expect_error eval "$work/junk.irnn" --data "$work/tiny.txt" --backend int
  expect_error eval "$work/junk.irnn" --data "$work/tiny.txt" --backend nosuch
  grep -q -- "--backend is 'nosuch' but must be float, sim or int" "$work/err" ||
    fail "eval --backend nosuch: the message does not name the bad backend: $(head -n1 "$work/err")"
  expect_error qat "$work/junk.pt" --data "$work/tiny.txt" --out "$work/q.irnn"
  expect_error train --data "$work/missing.txt" --out "$work/f.pt"
  expect_error recipe nosuch --data "$work/tiny.txt" --out "$work/r"
  expect_error generate "$work/junk.irnn"
  expect_error train --data "$work/tiny.txt"
  expect_error train --cell nosuch --data "$work/tiny.txt" --out "$work/f.pt"
  grep -q -- "--cell is 'nosuch' but must be lstm or gru" "$work/err" ||
    fail "train --cell nosuch: the message does not name the bad cell: $(head -n1 "$work/err")"
  expect_error recipe ptb-gru-small --data "$work/missing" --out "$work/r"
  expect_error ptq "$work/junk.pt" --data "$work/tiny.txt" --out "$work/q.irnn" --mode tflite --pot-scales
  grep -q -- "--pot-scales is given but must be used with --mode irnn" "$work/err" ||
    fail "ptq --mode tflite --pot-scales: the message does not say what is wrong: $(head -n1 "$work/err")"
  expect_error qat "$work/junk.pt" --data "$work/tiny.txt" --out "$work/q.irnn" --rounding double --pot-scales
  grep -q -- "--rounding is 'double' but must be single with --pot-scales" "$work/err" ||
    fail "qat --rounding double --pot-scales: the message does not say what is wrong: $(head -n1 "$work/err")"
  expect_error qat "$work/junk.pt" --data "$work/tiny.txt" --out "$work/q.irnn" --weight-bits 4
  grep -q -- "--weight-bits is 4 but must be 8 or 7" "$work/err" ||
    fail "qat --weight-bits 4: the message does not say what is wrong: $(head -n1 "$work/err")"
  expect_error recipe kjv-tiny --data "$work/tiny.txt" --out "$work/r" --weight-bits 5
  grep -q -- "--weight-bits is 5 but must be 8 or 7" "$work/err" ||
    fail "recipe --weight-bits 5: the message does not say what is wrong: $(head -n1 "$work/err")"
  expect_error recipe g2p --data "$work/tiny.txt" --out "$work/r" --weight-bits 7
  grep -q -- "--weight-bits is given but applies to the LSTM language-model recipes only" "$work/err" ||
    fail "recipe g2p --weight-bits 7: the message does not say what is wrong: $(head -n1 "$work/err")"
else
  echo "note: built without libtorch: train/qat/ptq/eval/generate/recipe not present, not checked"
fi

if [ "$failures" -ne 0 ]; then
  echo "cli_test: FAIL: $failures of $checks checks failed" >&2
  exit 1
fi
echo "cli_test: PASS: $checks runs of irnn checked"
