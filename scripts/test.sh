#!/usr/bin/env bash
# The README's test command (and CI's: .ci/run runs exactly this). Installs what the build needs
# (scripts/install_deps.sh), then builds and runs every test in two configurations:
#   build/release  Release (-O3)
#   build/asan     AddressSanitizer + UndefinedBehaviorSanitizer (IRNN_SANITIZE=ON), -O1 -g with asserts on
# and prints one summary line. Exits non-zero if anything fails to install, configure, build or pass.
# The golden tests read ../shared (the folder beside this repository; override with IRNN_SHARED_DIR).
# Options: --release-only or --asan-only run one configuration; extra ctest arguments after "--".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

configs=(release asan)
ctest_args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --release-only) configs=(release) ;;
    --asan-only) configs=(asan) ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "test.sh: error: unknown argument '$1' (known: --release-only, --asan-only, -- CTEST_ARGS...)" >&2; exit 2 ;;
  esac
  shift
done

shared=${IRNN_SHARED_DIR:-$root/../shared}
if [ ! -d "$shared/golden" ]; then
  echo "test.sh: error: the shared folder '$shared' (with golden/ in it) is missing." >&2
  echo "  The tests read golden vectors from ../shared beside the repository: clone so that the layout is" >&2
  echo "  <dir>/main (this repository) and <dir>/shared, or set IRNN_SHARED_DIR to the shared folder." >&2
  exit 1
fi
shared=$(cd "$shared" && pwd)

bash scripts/install_deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
echo "test.sh: $jobs parallel jobs; shared folder $shared; compiler $(c++ --version | head -n1)"

# LeakSanitizer needs ptrace-like access that some containers deny; find out instead of failing every test.
asan_options="detect_leaks=1"
probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/irnn_lsan_probe.XXXXXX")
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <cstdlib>\nint main() { volatile void* p = std::malloc(7); p = nullptr; return 0; }\n' \
  >"$probe_dir/leak.cc"
if c++ -fsanitize=address -g "$probe_dir/leak.cc" -o "$probe_dir/leak" 2>"$probe_dir/log" &&
   ! ASAN_OPTIONS=detect_leaks=1 "$probe_dir/leak" >"$probe_dir/log" 2>&1 &&
   grep -q 'detected memory leaks' "$probe_dir/log"; then
  echo "test.sh: LeakSanitizer works here: ASAN_OPTIONS=detect_leaks=1"
else
  asan_options="detect_leaks=0"
  echo "test.sh: NOTE: LeakSanitizer does not work in this environment (probe: $(head -n1 "$probe_dir/log"));" \
       "the ASan run uses detect_leaks=0 (address and UB checks stay on)"
fi

declare -A result
failed=0
for config in "${configs[@]}"; do
  dir=build/$config
  case "$config" in
    release) cmake_args=(-DCMAKE_BUILD_TYPE=Release) ;;
    # RelWithDebInfo with -O1 -g and without -DNDEBUG: sanitizer-friendly, and debug checks stay on.
    asan) cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DIRNN_SANITIZE=ON) ;;
  esac
  echo
  echo "=== $config: configure and build in $dir"
  start=$SECONDS
  if ! cmake -S . -B "$dir" "${cmake_args[@]}" -DIRNN_BUILD_TESTS=ON -DIRNN_SHARED_DIR="$shared"; then
    result[$config]="FAIL (configure)"
    failed=1
    continue
  fi
  if ! cmake --build "$dir" -j "$jobs"; then
    result[$config]="FAIL (build)"
    failed=1
    continue
  fi
  echo "=== $config: ctest"
  log=$dir/ctest.log
  rc=0
  ASAN_OPTIONS="$asan_options:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" "${ctest_args[@]}" 2>&1 |
    tee "$log" || rc=$?
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
  if [ "$rc" -ne 0 ]; then
    result[$config]="FAIL (${summary:-ctest exited $rc}, $((SECONDS - start)) s)"
    failed=1
  else
    result[$config]="ok (${summary}, $((SECONDS - start)) s)"
  fi
done

echo
line="test.sh:"
for config in "${configs[@]}"; do line="$line $config ${result[$config]};"; done
if [ "$failed" -ne 0 ]; then
  echo "$line => FAIL"
  exit 1
fi
echo "$line => PASS"
