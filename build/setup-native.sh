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
set -uo pipefail

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
    *) echo "setup-native: unknown part '$part' (known: zmq, chromium, tifffile)" >&2; exit 2 ;;
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
