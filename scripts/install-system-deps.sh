#!/usr/bin/env bash
# Debian packages the tests need: headless Chromium and its driver (the overlay
# page test), espeak-ng (synthetic voices in the evaluation suite), redis-server and
# ffmpeg (bus and HLS tests). Installs only
# what is missing; uses sudo when not root. redis-server: the bus tests start
# their own on a free loopback port (never the system-wide service).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)  # HLS tests: reads live playlists, makes the test stream
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
