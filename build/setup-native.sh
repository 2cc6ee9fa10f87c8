#!/usr/bin/env bash
# Installs the native parts ClosedLoop uses where the machine lacks them, so a fresh machine needs nothing by hand.
# Called by the build of the projects that need them (Directory.Build.targets, property NativeDependencies) and
# safe to run by hand: `build/setup-native.sh zmq chromium`. Each part is checked first; an installed part costs
# a few milliseconds. Without root (or without apt) it prints what to install and exits 0: the tests that need a
# missing part then skip with a message naming it.
#   zmq       Debian libzmq5 (the real libzmq, loaded by ClosedLoop.Messaging) and python3-zmq (the Python peer
#             of the interoperability tests and of examples/python)
#   chromium  Debian chromium (headless browser for the dashboard tests) and a font
#   tifffile  Debian python3-tifffile (the TIFF reader suite2p and CaImAn use; the recording tests read our movies with it)
#   onnxruntime  the real ONNX Runtime CPU library (libonnxruntime.so.1, 1.30.0) in .native/onnxruntime/ at the repository
#             root (git-ignored), taken from the npm package onnxruntime-node@1.30.0 (bin/napi-v6/linux/x64/); needs npm
#             and the npm registry, not root. ClosedLoop.Models loads it (override with CLOSEDLOOP_ONNXRUNTIME=/path/lib)
#   onnx      Debian python3-onnx and python3-numpy (the reference onnx package builds a model outside the project for
#             the ONNX interoperability tests)
set -uo pipefail

# ONNX Runtime is no Debian package and not in the NuGet mirror: its CPU library ships inside the npm package
# onnxruntime-node. Unpack only the library (no install scripts run) into the git-ignored .native/onnxruntime/.
ort_version=1.30.0
ort_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.native/onnxruntime"
fetch_onnxruntime() {
  [ -f "$ort_dir/libonnxruntime.so.1" ] && return 0
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "setup-native: onnxruntime is fetched for Linux x86-64 only; put libonnxruntime where CLOSEDLOOP_ONNXRUNTIME points. The ONNX Runtime tests fail without it." >&2
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup-native: missing ONNX Runtime ($ort_dir/libonnxruntime.so.1) and npm to fetch it; install npm and run build/setup-native.sh onnxruntime. The ONNX Runtime tests fail without it." >&2
    return 0
  fi
  exec 8>/tmp/closedloop-setup-native-ort.lock
  flock 8
  [ -f "$ort_dir/libonnxruntime.so.1" ] && { flock -u 8; return 0; }
  echo "setup-native: fetching ONNX Runtime $ort_version (npm package onnxruntime-node) …"
  local tmp ok=0
  tmp="$(mktemp -d)"
  for attempt in 1 2 3; do
    if (cd "$tmp" && npm pack --silent "onnxruntime-node@$ort_version" >>/tmp/closedloop-setup-native.log 2>&1); then ok=1; break; fi
    sleep $((attempt * 5))
  done
  if [ $ok = 1 ] && tar -xzf "$tmp/onnxruntime-node-$ort_version.tgz" -C "$tmp" package/bin/napi-v6/linux/x64 \
      && [ -f "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" ]; then
    mkdir -p "$ort_dir"
    # Only the runtime library: the .node file is Node's own binding. ldd shows it needs nothing beyond libc/libstdc++.
    cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_dir/libonnxruntime.so.1.tmp"
    mv "$ort_dir/libonnxruntime.so.1.tmp" "$ort_dir/libonnxruntime.so.1"
    echo "$ort_version (npm onnxruntime-node@$ort_version, bin/napi-v6/linux/x64)" >"$ort_dir/VERSION"
    echo "setup-native: ONNX Runtime $ort_version in $ort_dir"
  else
    echo "setup-native: could not fetch ONNX Runtime (see /tmp/closedloop-setup-native.log). The ONNX Runtime tests fail without it." >&2
  fi
  rm -rf "$tmp"
  flock -u 8
}

want=()
for part in "$@"; do
  case "$part" in
    zmq)
      ldconfig -p 2>/dev/null | grep -q 'libzmq\.so\.5' || want+=(libzmq5)
      /usr/bin/python3 -c 'import zmq' 2>/dev/null || want+=(python3-zmq)
      ;;
    chromium)
      command -v chromium >/dev/null 2>&1 || want+=(chromium fonts-dejavu-core)
      ;;
    tifffile)
      /usr/bin/python3 -c 'import tifffile' 2>/dev/null || want+=(python3-tifffile)
      ;;
    onnxruntime)
      fetch_onnxruntime
      ;;
    onnx)
      /usr/bin/python3 -c 'import onnx' 2>/dev/null || want+=(python3-onnx)
      /usr/bin/python3 -c 'import numpy' 2>/dev/null || want+=(python3-numpy)
      ;;
    *) echo "setup-native: unknown part '$part' (known: zmq, chromium, tifffile, onnxruntime, onnx)" >&2; exit 2 ;;
  esac
done
[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-native: missing ${want[*]}; install them (Debian: sudo apt-get install ${want[*]}). Tests that need them are skipped." >&2
  exit 0
fi

# Several projects may build at once: one installer at a time.
exec 9>/tmp/closedloop-setup-native.lock
flock 9
echo "setup-native: installing ${want[*]} …"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${want[@]}" >/tmp/closedloop-setup-native.log 2>&1; then
  apt-get update -q >>/tmp/closedloop-setup-native.log 2>&1
  if ! apt-get install -y -q --no-install-recommends "${want[@]}" >>/tmp/closedloop-setup-native.log 2>&1; then
    echo "setup-native: could not install ${want[*]} (see /tmp/closedloop-setup-native.log). Tests that need them are skipped." >&2
    exit 0
  fi
fi
echo "setup-native: installed ${want[*]}"
