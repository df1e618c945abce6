#!/usr/bin/env bash
# docker-steps.sh holds the fetch, build and check steps of the Dockerfile's
# builder stage, so that they run the same inside `docker build` and outside
# Docker (internal/dockercheck runs the cpu steps into a temporary folder).
#
#   scripts/docker-steps.sh deps                       download the Go modules
#   scripts/docker-steps.sh fetch-ort LIBDIR           ONNX Runtime 1.29.0 → LIBDIR/libonnxruntime.so.1
#   scripts/docker-steps.sh fetch-providers VARIANT LIBDIR
#                                                      cuda: the CUDA 13 provider libraries → LIBDIR
#                                                      cpu: nothing
#   scripts/docker-steps.sh build BINDIR               CGO build of tagnet-predict → BINDIR/tagnet-predict
#   scripts/docker-steps.sh check VARIANT BINDIR LIBDIR
#                                                      the binary runs, links libvips and nothing of the
#                                                      trainer (OpenBLAS, oneDNN), libraries verified
#   scripts/docker-steps.sh --list                     the step names, one a line
#
# Run from the source root (the builder's WORKDIR, or a repository
# checkout). Downloads come from the npm registry with `npm pack` (no
# install scripts run); a tarball already in $TAGNET_NPM_CACHE with the
# right sha256 is used instead. Checksums mirror scripts/setup.sh and the
# design document runtime.md.
set -euo pipefail

ort_version=1.29.0
ort_pkg=onnxruntime-node@$ort_version
ort_tgz_name=onnxruntime-node-$ort_version.tgz
ort_tgz_sha=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037
ort_lib_sha=89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d
cuda_pkg=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
cuda_tgz_name=onnxruntime-linux-x64-gpu-0.4.9.tgz
cuda_tgz_sha=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
cuda_lib_sha=56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037
shared_lib_sha=c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772

steps=(deps fetch-ort fetch-providers build check)

say() { printf 'docker-steps: %s\n' "$*" >&2; }
die() { printf 'docker-steps: error: %s\n' "$*" >&2; exit 1; }

sha_ok() { # file expected-sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# npm_tarball PKG SHA NAME: prints the path of the package's tarball,
# taken from $TAGNET_NPM_CACHE when it holds it, else fetched with npm pack
# into a temporary folder.
npm_tarball() {
  local pkg=$1 sha=$2 name=$3
  if [ -n "${TAGNET_NPM_CACHE:-}" ] && sha_ok "$TAGNET_NPM_CACHE/$name" "$sha"; then
    printf '%s\n' "$TAGNET_NPM_CACHE/$name"
    return 0
  fi
  command -v npm >/dev/null || die "npm is needed to fetch $pkg"
  local tmp
  tmp=$(mktemp -d)
  say "fetching $pkg from the npm registry"
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null) || die "npm pack $pkg failed"
  local got
  got=$(ls "$tmp"/*.tgz)
  sha_ok "$got" "$sha" || die "checksum mismatch for the $pkg tarball (want $sha)"
  printf '%s\n' "$got"
}

step_deps() {
  [ $# -eq 0 ] || die "usage: deps"
  go mod download
}

step_fetch_ort() {
  [ $# -eq 1 ] || die "usage: fetch-ort LIBDIR"
  local dir=$1 tgz
  mkdir -p "$dir"
  if sha_ok "$dir/libonnxruntime.so.1" "$ort_lib_sha"; then return 0; fi
  tgz=$(npm_tarball "$ort_pkg" "$ort_tgz_sha" "$ort_tgz_name")
  tar -xzf "$tgz" -C "$dir" --strip-components=5 package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  sha_ok "$dir/libonnxruntime.so.1" "$ort_lib_sha" || die "checksum mismatch for $dir/libonnxruntime.so.1"
  case "$tgz" in "${TAGNET_NPM_CACHE:-/nonexistent}"/*) ;; *) rm -rf "$(dirname "$tgz")" ;; esac
  say "ONNX Runtime $ort_version in $dir"
}

step_fetch_providers() {
  [ $# -eq 2 ] || die "usage: fetch-providers VARIANT LIBDIR"
  local variant=$1 dir=$2 tgz
  case "$variant" in
    cpu) return 0 ;;
    cuda) ;;
    *) die "unknown variant $variant (want cpu or cuda)" ;;
  esac
  mkdir -p "$dir"
  if sha_ok "$dir/libonnxruntime_providers_cuda.so" "$cuda_lib_sha" &&
     sha_ok "$dir/libonnxruntime_providers_shared.so" "$shared_lib_sha"; then return 0; fi
  tgz=$(npm_tarball "$cuda_pkg" "$cuda_tgz_sha" "$cuda_tgz_name")
  tar -xzf "$tgz" -C "$dir" --strip-components=4 \
    package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  sha_ok "$dir/libonnxruntime_providers_cuda.so" "$cuda_lib_sha" || die "checksum mismatch for the CUDA provider"
  sha_ok "$dir/libonnxruntime_providers_shared.so" "$shared_lib_sha" || die "checksum mismatch for the shared provider"
  case "$tgz" in "${TAGNET_NPM_CACHE:-/nonexistent}"/*) ;; *) rm -rf "$(dirname "$tgz")" ;; esac
  say "CUDA provider libraries in $dir"
}

step_build() {
  [ $# -eq 1 ] || die "usage: build BINDIR"
  local dir=$1
  mkdir -p "$dir"
  # cgo is on for onnxruntime_go, which opens ONNX Runtime at run time,
  # and for preprocess/vips, which links libvips (libvips-dev).
  CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o "$dir/tagnet-predict" ./cmd/tagnet-predict
  say "built $dir/tagnet-predict"
}

step_check() {
  [ $# -eq 3 ] || die "usage: check VARIANT BINDIR LIBDIR"
  local variant=$1 bin=$2/tagnet-predict lib=$3
  [ -x "$bin" ] || die "$bin is missing"
  local deps
  deps=$(ldd "$bin" 2>&1) || die "ldd $bin: $deps"
  if grep -qiE 'openblas|dnnl' <<<"$deps"; then die "$bin links a trainer dependency (OpenBLAS or oneDNN):"$'\n'"$deps"; fi
  if ! grep -q 'libvips\.so\.42 => /' <<<"$deps"; then die "$bin does not link libvips.so.42 (install libvips-dev):"$'\n'"$deps"; fi
  if grep -q 'not found' <<<"$deps"; then die "$bin needs libraries that are missing:"$'\n'"$deps"; fi
  sha_ok "$lib/libonnxruntime.so.1" "$ort_lib_sha" || die "$lib/libonnxruntime.so.1 is missing or not the expected build"
  case "$variant" in
    cpu)
      if ls "$lib"/libonnxruntime_providers_* >/dev/null 2>&1; then die "the cpu variant must not carry the CUDA provider"; fi ;;
    cuda)
      sha_ok "$lib/libonnxruntime_providers_cuda.so" "$cuda_lib_sha" || die "the CUDA provider is missing or not the expected build"
      sha_ok "$lib/libonnxruntime_providers_shared.so" "$shared_lib_sha" || die "the shared provider is missing or not the expected build" ;;
    *) die "unknown variant $variant (want cpu or cuda)" ;;
  esac
  local help
  help=$("$bin" --help 2>&1) || die "$bin --help failed: $help"
  grep -q serve <<<"$help" || die "$bin --help does not list serve:"$'\n'"$help"
  say "checked $bin ($variant): runs, links libvips and nothing of the trainer, ONNX Runtime library verified"
}

[ $# -ge 1 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
step=$1
shift
case "$step" in
  --list) printf '%s\n' "${steps[@]}" ;;
  -h|--help) sed -n '2,17p' "$0" ;;
  deps) step_deps "$@" ;;
  fetch-ort) step_fetch_ort "$@" ;;
  fetch-providers) step_fetch_providers "$@" ;;
  build) step_build "$@" ;;
  check) step_check "$@" ;;
  *) die "unknown step $step (steps: ${steps[*]})" ;;
esac
