#!/usr/bin/env bash
# Runs the whole streamiso test suite (g++, C++17, Debug): configure, build, ctest.
# On Debian/Ubuntu it first installs what is missing (doctest-dev, cmake, make, g++, and
# pkg-config and git for the package tests).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pkg in doctest-dev cmake make g++ pkg-config git; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})) && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "streamiso: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cmake --workflow --preset dev
