#!/usr/bin/env bash
# setup.sh installs what tagnet needs that Go modules do not bring, and checks
# what it installs. It is idempotent: a second run only verifies.
#
#   scripts/setup.sh            ONNX Runtime, OpenBLAS, libvips, test photos
#   scripts/setup.sh --cuda     also the CUDA 13 provider libraries (≈180 MB)
#   scripts/setup.sh --fashion-mnist   also Debian's Fashion-MNIST IDX files
#   scripts/setup.sh --node-peer       also the benchmarks' Node.js peer (onnxruntime-node,
#                                      sharp) and heif-enc for their HEIC photos
#   scripts/setup.sh --emulator        also qemu-user, for scripts/check_cpu_levels.sh
#
# Everything project-local goes under .native/ (git-ignored). Facts and
# checksums: ../shared/docs/runtime.md in the design docs, mirrored below.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
native="$root/.native"
ort_version=1.29.0
ort_dir="$native/onnxruntime-$ort_version"

ort_tgz_sha=cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037
ort_lib_sha=89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d
cuda_pkg=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
cuda_tgz_sha=2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
cuda_lib_sha=56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037
shared_lib_sha=c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772

# Real photographs from Debian's darknet package (data folder only).
declare -A photo_sha=(
  [dog.jpg]=5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866
  [eagle.jpg]=f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0
  [giraffe.jpg]=00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1
  [horses.jpg]=c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4
  [kite.jpg]=87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e
  [person.jpg]=cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1
)

want_cuda=0
want_fmnist=0
want_node_peer=0
want_emulator=0
sharp_version=0.34.5
for arg in "$@"; do
  case "$arg" in
    --cuda) want_cuda=1 ;;
    --fashion-mnist) want_fmnist=1 ;;
    --node-peer) want_node_peer=1 ;;
    --emulator) want_emulator=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

sha_ok() { # file expected-sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

# The shared torchvision ResNet-18 export with PyTorch's logits (see the
# design docs' fixtures folder), copied beside the other native pieces so
# tests find it wherever the repository is cloned.
fixture_sha=1f7da8b8a7320aa2778dc313a977378371705958a7e0f2868c37933abaa56d7b
install_fixtures() {
  local dest="$native/fixtures/torchvision-resnet18" src=""
  sha_ok "$dest/model.onnx" "$fixture_sha" && return 0
  for cand in "${TAGNET_SHARED:-}/fixtures" "$root/../shared/fixtures" /work/shared/fixtures; do
    if [ -f "$cand/torchvision-resnet18/model.onnx" ]; then src="$cand/torchvision-resnet18"; break; fi
  done
  [ -n "$src" ] || die "the torchvision-resnet18 fixture was not found (set TAGNET_SHARED to the shared folder holding fixtures/)"
  mkdir -p "$dest"
  cp "$src"/model.onnx "$src"/input.f32 "$src"/torch_logits.f32 "$src"/README.md "$dest"/
  chmod u+w "$dest"/*
  sha_ok "$dest/model.onnx" "$fixture_sha" || die "checksum mismatch for the fixture $src/model.onnx"
}

# The PyTorch weight files of the same kind (torch.save zip and legacy,
# float16, safetensors) with PyTorch's logits, for trainer/weights.
declare -A pth_fixture_sha=(
  [resnet18.pth]=e909cbfd8a4e964bc5d7575bfd6185a67d5f8a97a5e5baf0977f0a144b109e91
  [input.f32]=649d9714656f5fc6119e804aa17270200b725b5ea710c6d53cd08216f4f3f420
  [torch_logits.f32]=6e1e1db4d6d1c9259d8b76c312a71a65a45e9e4055f8e603769ffb88c119d0bc
  [stem-legacy.pth]=17f2295b8d2cd9ff1408fcf98ea885f14af8f3f38c555919f917ef9561ec7897
  [stem-fp16.pth]=bdb59715834d27b7c277cb1ab73a968d84b29f41c2cbfac97336da280e800faf
  [stem.safetensors]=cc7d0bda8fa1808350bb8e235a545b6115c475e44fbb1252309120513721372b
)
install_pth_fixtures() {
  local dest="$native/fixtures/torchvision-resnet18-pth" src="" f ok=1
  for f in "${!pth_fixture_sha[@]}"; do sha_ok "$dest/$f" "${pth_fixture_sha[$f]}" || ok=0; done
  [ $ok = 1 ] && return 0
  for cand in "${TAGNET_SHARED:-}/fixtures" "$root/../shared/fixtures" /work/shared/fixtures; do
    if [ -f "$cand/torchvision-resnet18-pth/resnet18.pth" ]; then src="$cand/torchvision-resnet18-pth"; break; fi
  done
  [ -n "$src" ] || die "the torchvision-resnet18-pth fixture was not found (set TAGNET_SHARED to the shared folder holding fixtures/)"
  mkdir -p "$dest"
  for f in "${!pth_fixture_sha[@]}"; do
    cp "$src/$f" "$dest/$f"
    chmod u+w "$dest/$f"
    sha_ok "$dest/$f" "${pth_fixture_sha[$f]}" || die "checksum mismatch for the fixture $src/$f"
  done
  cp "$src/README.md" "$dest/" && chmod u+w "$dest/README.md"
}

apt_install() { # packages...
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    as_root apt-get update -qq >/dev/null
    as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  }
}

npm_fetch() { # package@version expected-tgz-sha dest-tgz
  local pkg=$1 sha=$2 dest=$3 tmp
  sha_ok "$dest" "$sha" && return 0
  command -v npm >/dev/null || die "npm is needed to fetch $pkg (Debian package npm)"
  tmp=$(mktemp -d)
  say "fetching $pkg from the npm registry"
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  local got
  got=$(ls "$tmp"/*.tgz)
  sha_ok "$got" "$sha" || die "checksum mismatch for $pkg tarball (want $sha)"
  mv "$got" "$dest"
  rm -rf "$tmp"
}

install_ort() {
  local lib="$ort_dir/libonnxruntime.so.1"
  if sha_ok "$lib" "$ort_lib_sha"; then return 0; fi
  mkdir -p "$ort_dir" "$native/cache"
  local tgz="$native/cache/onnxruntime-node-$ort_version.tgz"
  npm_fetch "onnxruntime-node@$ort_version" "$ort_tgz_sha" "$tgz"
  tar -xzf "$tgz" -C "$ort_dir" --strip-components=5 package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  sha_ok "$lib" "$ort_lib_sha" || die "checksum mismatch for $lib (want $ort_lib_sha)"
  say "ONNX Runtime $ort_version installed in $ort_dir"
}

install_cuda_provider() {
  if sha_ok "$ort_dir/libonnxruntime_providers_cuda.so" "$cuda_lib_sha" &&
     sha_ok "$ort_dir/libonnxruntime_providers_shared.so" "$shared_lib_sha"; then return 0; fi
  mkdir -p "$native/cache"
  local tgz="$native/cache/onnxruntime-linux-x64-gpu-0.4.9.tgz"
  npm_fetch "$cuda_pkg" "$cuda_tgz_sha" "$tgz"
  tar -xzf "$tgz" -C "$ort_dir" --strip-components=4 \
    package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  sha_ok "$ort_dir/libonnxruntime_providers_cuda.so" "$cuda_lib_sha" || die "checksum mismatch for the CUDA provider"
  sha_ok "$ort_dir/libonnxruntime_providers_shared.so" "$shared_lib_sha" || die "checksum mismatch for the shared provider"
  say "CUDA provider libraries installed in $ort_dir"
}

install_photos() {
  local dir="$native/photos" f ok=1
  for f in "${!photo_sha[@]}"; do sha_ok "$dir/$f" "${photo_sha[$f]}" || ok=0; done
  [ $ok = 1 ] && return 0
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d)
  say "fetching test photographs from Debian's darknet package (not installing it)"
  (cd "$tmp" && apt-get download darknet >/dev/null 2>&1 || { as_root apt-get update -qq >/dev/null; apt-get download darknet >/dev/null 2>&1; })
  dpkg-deb --fsys-tarfile "$tmp"/darknet_*.deb | tar -x -C "$tmp" ./usr/share/darknet/data/
  for f in "${!photo_sha[@]}"; do
    cp "$tmp/usr/share/darknet/data/$f" "$dir/$f"
    sha_ok "$dir/$f" "${photo_sha[$f]}" || die "checksum mismatch for photo $f"
  done
  rm -rf "$tmp"
}

# ONNX Runtime's own Node.js binding, the peer the predictor benchmarks
# compare against (benchmarks/peer/). Installed from the cached npm tarball
# with its install script off (it would try a download site); its prebuilt
# binding loads the libonnxruntime.so.1 shipped beside it, the same build as
# ours (checked below). Its small JavaScript dependencies come from the npm
# registry.
install_node_peer() {
  local dest="$native/node-peer" pkgdir
  pkgdir="$dest/node_modules/onnxruntime-node"
  local lib="$pkgdir/bin/napi-v6/linux/x64/libonnxruntime.so.1"
  if sha_ok "$lib" "$ort_lib_sha" && [ -f "$pkgdir/bin/napi-v6/linux/x64/onnxruntime_binding.node" ] &&
     [ -f "$dest/node_modules/onnxruntime-common/package.json" ] &&
     [ "$(node -p "require('$dest/node_modules/sharp/package.json').version" 2>/dev/null)" = "$sharp_version" ]; then return 0; fi
  command -v npm >/dev/null || die "npm is needed for the Node.js peer (Debian package npm)"
  command -v node >/dev/null || die "node is needed for the Node.js peer (Debian package nodejs)"
  local tgz="$native/cache/onnxruntime-node-$ort_version.tgz"
  mkdir -p "$native/cache" "$dest"
  npm_fetch "onnxruntime-node@$ort_version" "$ort_tgz_sha" "$tgz"
  [ -f "$dest/package.json" ] || printf '{"name":"tagnet-node-peer","private":true}\n' >"$dest/package.json"
  # One npm install for both: a later --no-save install would prune the
  # other as extraneous.
  say "installing onnxruntime-node $ort_version and sharp $sharp_version into $dest (install scripts off)"
  (cd "$dest" && npm install --silent --ignore-scripts --no-audit --no-fund --no-save "$tgz" "sharp@$sharp_version" >/dev/null)
  sha_ok "$lib" "$ort_lib_sha" || die "checksum mismatch for $lib (want $ort_lib_sha)"
  node -e "require('$pkgdir')" || die "onnxruntime-node does not load from $pkgdir"
  # sharp is libvips for Node.js: its prebuilt libvips 8.17 comes as the
  # optional package @img/sharp-libvips-linux-x64; npm checks each
  # tarball against the registry's sha512 integrity.
  node -e "require('$dest/node_modules/sharp')" || die "sharp does not load from $dest/node_modules"
  say "onnxruntime-node $ort_version and sharp $sharp_version installed in $dest"
}

apt_install libopenblas-dev libdnnl-dev libvips-dev pkg-config
install_ort
install_photos
install_fixtures
install_pth_fixtures
[ $want_cuda = 1 ] && install_cuda_provider
[ $want_fmnist = 1 ] && apt_install dataset-fashion-mnist
[ $want_node_peer = 1 ] && { install_node_peer; apt_install libheif-examples; }
[ $want_emulator = 1 ] && apt_install qemu-user
exit 0
