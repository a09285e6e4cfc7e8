#!/usr/bin/env bash
# Proves that compiled objects contain no floating-point instruction (DESIGN.md, contract 2: no floating
# point at inference). Usage: no_float_test.sh OBJECT...   (ctest NoFloat.RuntimeObjects passes the
# objects of the CMake target irnn_runtime_objs). It disassembles each object with objdump and fails,
# naming object, function and instruction, at the first floating-point instruction of any kind. It is
# not a source check: it reads what the compiler emitted, so a float that slips in through a header, a
# constant or a library call is caught too. x86-64 objects only; any other architecture is an error,
# never a silent pass. tests/no_float_selftest.sh proves that it rejects float code and accepts integer
# SIMD code.
#
# Rules, applied to each instruction's mnemonic (AT&T syntax, prefixes such as rep/lock/data16/cs/fs
# stripped). Deny = floating-point arithmetic, comparison, conversion or state; allow = everything else.
#   DENY  x87: every mnemonic starting with "f" (fld, fstp, fild, fadd, fmul, fxch, fnstcw, ...)
#   DENY  3DNow!: pf* (pfadd, pfmul, ...), pi2f*, pf2i*
#   DENY  conversions to or from float: [v]cvt* (cvtsi2ss, cvttsd2si, cvtdq2ps, vcvtph2ps, ...)
#   DENY  arithmetic on ss/sd/ps/pd/sh/ph: [v]{add,sub,mul,div,min,max,sqrt,rsqrt,rcp,round,hadd,hsub,
#         addsub,dp,scalef,getexp,getmant,rndscale,reduce,range,fixupimm,rcp14,rsqrt14,...}{ss,sd,ps,pd,..}
#   DENY  FMA: vf[n]madd*, vf[n]msub*, vfmaddsub*, vfmsubadd* (FMA3 and FMA4)
#   DENY  float compares: [v]cmp*{ss,sd,ps,pd} (cmpltps, vcmpeqsd, ...), [v][u]comis{s,d}, vfpclass*
#   DENY  scalar float moves: [v]movss, [v]movsd with an xmm operand. A scalar float move is how a float
#         constant or a float spill reaches code; integer code uses movd/movq. The operand test keeps the
#         string instructions (movsb/movsl/movsq and, in Intel syntax, movsd/cmpsd) from matching.
#   DENY  float broadcasts: vbroadcastss, vbroadcastsd (integer code has vpbroadcastd/q with AVX2)
#   DENY  MXCSR access: ldmxcsr, stmxcsr; bf16 dot products: vdpbf16ps
#   ALLOW integer SIMD: p*/vp* (vpmaddwd, vpaddd, vpshufb, vpbroadcastd, ...), movd/movq, [v]movdq*
#   ALLOW bit moves and bitwise ops in the float domain: [v]movaps/movups/movapd/movupd/movhps/movlps/
#         movhlps/movlhps/movntps/movmskps, [v]andps/andnps/orps/xorps (and pd), [v]shufps, unpck[lh]ps,
#         [v]blendps/blendvps, vpermps, vpermilps, vinsertps/extractps, vperm2f128, vinsertf128,
#         vextractf128, vbroadcastf128, vmaskmovps, vtestps. Compilers emit these for integer data
#         (copies, zeroing, shuffles); they move or mask bits and compute no floating-point value, and
#         any float computation needs a denied instruction (an arithmetic, a compare or a conversion).
set -euo pipefail

me=$(basename "$0")
if [ "$#" -eq 0 ]; then
  echo "$me: FAIL: no object files given (usage: $me OBJECT...); an empty list proves nothing" >&2
  exit 1
fi
if ! command -v objdump >/dev/null 2>&1; then
  echo "$me: FAIL: objdump not found (Debian package binutils)" >&2
  exit 1
fi

total_objects=0
total_insns=0
failed=0
for obj in "$@"; do
  if [ ! -f "$obj" ]; then
    echo "$me: FAIL: $obj: no such file" >&2
    failed=1
    continue
  fi
  header=$(objdump -f "$obj" 2>&1) || { echo "$me: FAIL: $obj: objdump -f failed: $header" >&2; failed=1; continue; }
  arch=$(printf '%s\n' "$header" | sed -n 's/^architecture: \([^,]*\).*/\1/p')
  if [ "$arch" != "i386:x86-64" ]; then
    echo "$me: FAIL: $obj: architecture '$arch' is not supported (only i386:x86-64 has deny rules)" >&2
    failed=1
    continue
  fi
  if objdump -h "$obj" | grep -q '\.gnu\.lto_'; then
    echo "$me: FAIL: $obj: holds LTO bytecode, not machine code; build the runtime objects without -flto" >&2
    failed=1
    continue
  fi
  disasm=$(objdump -d -C --no-show-raw-insn "$obj") || { echo "$me: FAIL: $obj: objdump -d failed" >&2; failed=1; continue; }
  # Prints "COUNT <n>" last; before it one "BAD <function>\t<instruction>" line per denied instruction.
  result=$(printf '%s\n' "$disasm" | awk -F'\t' '
    BEGIN {
      prefix = "^(rep|repz|repe|repnz|repne|lock|data16|data32|addr32|addr16|cs|ds|es|fs|gs|ss|notrack|bnd|xacquire|xrelease|rex|rex\\.[wrxb]+|\\{vex\\}|\\{vex3\\}|\\{evex\\})$"
      arith = "^v?(add|sub|mul|div|min|max|sqrt|rsqrt|rcp|round|hadd|hsub|addsub|dp|scalef|getexp|getmant|rndscale|reduce|range|fixupimm|rcp14|rsqrt14|rcp28|rsqrt28|exp2)(ss|sd|ps|pd|sh|ph)$"
      n = 0
    }
    /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
    NF >= 2 && $1 ~ /^ *[0-9a-f]+:$/ {
      insn = $2
      for (i = 3; i <= NF; ++i) insn = insn " " $i
      gsub(/^ +| +$/, "", insn)
      if (insn == "" || insn ~ /^\(bad\)/) next
      k = split(insn, tok, / +/)
      j = 1
      while (j < k && tok[j] ~ prefix) ++j
      m = tok[j]
      if (m ~ prefix) next  # a lone prefix byte printed on its own line
      ++n
      bad = 0
      if (m ~ /^f/) bad = 1                                                        # x87
      else if (m ~ /^(pf|pi2f)/) bad = 1                                           # 3DNow!
      else if (m ~ /^v?cvt/) bad = 1                                               # conversions
      else if (m ~ arith) bad = 1                                                  # arithmetic
      else if (m ~ /^vf(n?madd|n?msub|maddsub|msubadd)/) bad = 1                   # FMA
      else if (m ~ /^v?cmp[a-z_]*(ss|sd|ps|pd|sh|ph)$/ && m != "cmpsd") bad = 1    # compares
      else if (m ~ /^v?u?comis[sdh]$/ || m ~ /^vfpclass/) bad = 1
      else if (m ~ /^(v?movss|v?movsd|cmpsd)$/ && insn ~ /xmm/) bad = 1            # scalar float moves
      else if (m ~ /^vbroadcasts[sd]$/) bad = 1                                    # float broadcasts
      else if (m ~ /^v?(ld|st)mxcsr$/ || m ~ /^vdpbf16ps$/) bad = 1
      if (bad) print "BAD " fn "\t" insn
    }
    END { print "COUNT " n }')
  count=$(printf '%s\n' "$result" | sed -n 's/^COUNT //p')
  bad_lines=$(printf '%s\n' "$result" | sed -n 's/^BAD //p')
  total_objects=$((total_objects + 1))
  total_insns=$((total_insns + count))
  if [ -n "$bad_lines" ]; then
    failed=1
    nbad=$(printf '%s\n' "$bad_lines" | wc -l)
    echo "$me: FAIL: $obj: $nbad floating-point instruction(s) in $count:" >&2
    printf '%s\n' "$bad_lines" | head -n 50 | while IFS=$'\t' read -r fn insn; do
      echo "  in $fn: $insn" >&2
    done
    [ "$nbad" -gt 50 ] && echo "  ... and $((nbad - 50)) more" >&2
  else
    echo "$me: ok: $obj: $count instructions, none floating-point"
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "$me: FAIL: floating-point instructions or unreadable objects (checked $total_objects objects, $total_insns instructions)" >&2
  exit 1
fi
if [ "$total_insns" -eq 0 ]; then
  echo "$me: FAIL: $total_objects objects hold no instruction at all; nothing was checked" >&2
  exit 1
fi
echo "$me: PASS: checked $total_objects objects, $total_insns instructions: no floating-point instruction"
