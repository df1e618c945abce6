#!/usr/bin/env bash
# check_cpu_levels.sh runs test packages on emulated older x86-64 CPUs, so
# that the native code written for this machine's AVX-512 (trainer/blas's
# C, oneDNN's kernels, the bf16 paths) is shown to pass where it must take
# its other branches. qemu-user's TCG implements AVX2 but no AVX-512: an
# AVX-512 instruction reached on the emulated CPU ends the test with
# SIGILL.
#
#   scripts/setup.sh --emulator          # once: Debian's qemu-user
#   scripts/check_cpu_levels.sh          # the trainer's packages on both CPUs
#   CPUS=Haswell-v4 scripts/check_cpu_levels.sh ./trainer/blas
#
# CPUs (qemu -cpu names; default "Haswell-v4 Nehalem"): Haswell-v4 has
# AVX2 and FMA (x86-64-v3), Nehalem SSE4.2 and no AVX (x86-64-v2).
# OPENBLAS_CORETYPE is unset for the run: a forced kernel (this
# workplace sets Haswell) would not fit the emulated CPU. Emulation is
# 10–20× slower: the trainer's packages take about 25 minutes on 2 cores.
# Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v qemu-x86_64 >/dev/null || { echo "check_cpu_levels: qemu-x86_64 missing: run scripts/setup.sh --emulator" >&2; exit 2; }
cpus=${CPUS:-Haswell-v4 Nehalem}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./trainer/blas ./trainer/nn ./trainer/learn ./trainer/data)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
for pkg in "${pkgs[@]}"; do
  name=$(echo "$pkg" | tr '/.' '__')
  go test -c -o "$tmp/$name.test" "$pkg"
  [ -f "$tmp/$name.test" ] || { echo "$pkg: no test files"; continue; }
  for cpu in $cpus; do
    start=$(date +%s)
    rc=0
    (cd "$pkg" && env -u OPENBLAS_CORETYPE qemu-x86_64 -cpu "$cpu" "$tmp/$name.test" -test.count=1 -test.v >"$tmp/$name-$cpu.log" 2>&1) || rc=$?
    passed=$(grep -c -- '--- PASS' "$tmp/$name-$cpu.log" || true)
    skipped=$(grep -c -- '--- SKIP' "$tmp/$name-$cpu.log" || true)
    if [ $rc = 0 ]; then
      echo "ok    $pkg on $cpu: $passed passed, $skipped skipped, $(($(date +%s) - start)) s"
    else
      failed=1
      echo "FAIL  $pkg on $cpu (exit $rc):"
      grep -v '^qemu-x86_64: warning' "$tmp/$name-$cpu.log" | grep -E -- '--- FAIL|SIGILL|panic|FAIL' | head -20
    fi
  done
done
exit $failed
