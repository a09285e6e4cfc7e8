#!/usr/bin/env bash
# Self-test of tests/no_float_test.sh (ctest NoFloat.DetectsFloat): proves that the checker would catch
# a float operation added to a kernel, and that it does not reject integer SIMD code. It compiles tiny
# C++ files with the project's compiler and checks the verdict on each:
#   REJECT  a float multiply (-O2), an int32 * float requantization (-O2 and -O2 -mavx2 -mfma), a double
#           (-O0), a long double (x87), a vectorized float loop (-O3 -mavx2 -mfma);
#   ACCEPT  integer-only code: an int8 dot product and int16 saturation at -O2 and vectorized at
#           -O3 -mavx2, and AVX2 intrinsics (vpmaddwd, vpaddd, vpshufb, vpbroadcastd);
#   REJECT  an empty argument list and a missing file.
# Usage: no_float_selftest.sh CXX_COMPILER NO_FLOAT_TEST_SH
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 CXX_COMPILER NO_FLOAT_TEST_SH" >&2
  exit 2
fi
cxx=$1
checker=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/irnn_no_float_selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/float_mul.cc" <<'EOF'
float ScaleValue(float a, float b) { return a * b; }
EOF
cat >"$work/float_requant.cc" <<'EOF'
#include <cstdint>
void RequantizeWithFloat(const int32_t* acc, int n, float scale, int8_t* out) {
  for (int i = 0; i < n; ++i) {
    int32_t v = static_cast<int32_t>(acc[i] * scale);
    out[i] = static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));
  }
}
EOF
cat >"$work/double_add.cc" <<'EOF'
double AddHalf(double x) { return x + 0.5; }
EOF
cat >"$work/long_double.cc" <<'EOF'
long double MulLongDouble(long double a, long double b) { return a * b; }
EOF
cat >"$work/float_loop.cc" <<'EOF'
void Saxpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}
EOF
cat >"$work/int_only.cc" <<'EOF'
#include <cstdint>
#include <cstring>
int32_t DotS8(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}
void SaturateS32ToS16(const int32_t* x, int n, int16_t* y) {
  for (int i = 0; i < n; ++i) y[i] = static_cast<int16_t>(x[i] < -32768 ? -32768 : (x[i] > 32767 ? 32767 : x[i]));
}
void CopyBytes(int8_t* d, const int8_t* s, int n) { std::memcpy(d, s, static_cast<size_t>(n)); }
void ZeroS32(int32_t* d, int n) { for (int i = 0; i < n; ++i) d[i] = 0; }
EOF
cat >"$work/int_avx2.cc" <<'EOF'
#include <immintrin.h>
#include <cstdint>
int32_t DotS16Avx2(const int16_t* a, const int16_t* b, int n, int32_t bias) {
  __m256i acc = _mm256_set1_epi32(bias);
  const __m256i shuffle = _mm256_set1_epi8(1);
  for (int i = 0; i + 16 <= n; i += 16) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    x = _mm256_shuffle_epi8(x, shuffle);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
  }
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
EOF

failures=0
compile() {  # compile NAME FLAGS... -> $work/NAME.<hash>.o, echoed
  local name=$1
  shift
  local obj
  obj="$work/${name}.$(printf '%s' "$*" | tr -c 'A-Za-z0-9' '_').o"
  if ! "$cxx" -std=c++17 "$@" -c "$work/$name.cc" -o "$obj" 2>"$work/compile.log"; then
    echo "FAIL: could not compile $name.cc with $cxx $*:" >&2
    cat "$work/compile.log" >&2
    return 1
  fi
  echo "$obj"
}

# expect reject|accept NAME SYMBOL MNEMONIC FLAGS...: a rejection must name function SYMBOL and list an
# instruction matching the regex MNEMONIC (each "-" for an accept).
expect() {
  local want=$1 name=$2 symbol=$3 mnemonic=$4
  shift 4
  local obj
  if ! obj=$(compile "$name" "$@"); then
    failures=$((failures + 1))
    return
  fi
  local rc=0
  bash "$checker" "$obj" >"$work/out.log" 2>&1 || rc=$?
  if [ "$want" = reject ]; then
    if [ "$rc" -eq 0 ]; then
      echo "FAIL: no_float_test.sh accepted $name.cc ($*), which holds floating-point code:" >&2
      cat "$work/out.log" >&2
      failures=$((failures + 1))
    elif [ "$rc" -ne 1 ]; then
      echo "FAIL: no_float_test.sh exited $rc on $name.cc ($*), want 1:" >&2
      cat "$work/out.log" >&2
      failures=$((failures + 1))
    elif ! grep -Eq "^  in $symbol\(.*\): ($mnemonic) " "$work/out.log"; then
      echo "FAIL: no_float_test.sh rejected $name.cc ($*) but did not list $mnemonic in $symbol:" >&2
      cat "$work/out.log" >&2
      failures=$((failures + 1))
    else
      echo "ok: rejected $name.cc ($*): $(grep -Em1 "^  in $symbol\(.*\): ($mnemonic) " "$work/out.log" | sed 's/^ *//')"
    fi
  else
    if [ "$rc" -ne 0 ]; then
      echo "FAIL: no_float_test.sh rejected $name.cc ($*), which is integer-only:" >&2
      cat "$work/out.log" >&2
      failures=$((failures + 1))
    elif ! grep -q 'PASS: checked 1 objects, [1-9][0-9]* instructions' "$work/out.log"; then
      echo "FAIL: no_float_test.sh accepted $name.cc ($*) without reporting what it checked:" >&2
      cat "$work/out.log" >&2
      failures=$((failures + 1))
    else
      echo "ok: accepted $name.cc ($*): $(grep 'PASS' "$work/out.log")"
    fi
  fi
}

expect reject float_mul ScaleValue mulss -O2
expect reject float_mul ScaleValue vmulss -O2 -mavx2 -mfma
expect reject float_requant RequantizeWithFloat 'cvtsi2ssl?|mulss|cvttss2si' -O2
expect reject float_requant RequantizeWithFloat 'vcvtdq2ps|vmulps|vcvttps2dq' -O3 -mavx2 -mfma
expect reject double_add AddHalf addsd -O0
expect reject long_double MulLongDouble fmulp? -O2
expect reject float_loop Saxpy 'vfmadd[0-9]+ps|vmulps' -O3 -mavx2 -mfma
expect accept int_only - - -O2
expect accept int_only - - -O0
expect accept int_only - - -O3 -mavx2 -mfma
expect accept int_avx2 - - -O2 -mavx2 -mfma

# Arguments that prove nothing must fail.
rc=0
bash "$checker" >"$work/out.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "FAIL: no_float_test.sh passed with no object files" >&2
  failures=$((failures + 1))
else
  echo "ok: rejected an empty object list: $(head -n1 "$work/out.log")"
fi
rc=0
bash "$checker" "$work/does_not_exist.o" >"$work/out.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "FAIL: no_float_test.sh passed on a missing file" >&2
  failures=$((failures + 1))
else
  echo "ok: rejected a missing file"
fi

if [ "$failures" -ne 0 ]; then
  echo "no_float_selftest: FAIL: $failures check(s) failed" >&2
  exit 1
fi
echo "no_float_selftest: PASS"
