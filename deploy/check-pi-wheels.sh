#!/usr/bin/env bash
# Does every device dependency install from wheels on 64-bit Raspberry Pi OS (Bookworm: Python 3.11, aarch64,
# glibc 2.36)? pip matches --platform tags exactly, so every manylinux tag that glibc accepts is listed.
# Exit 0 only if the aarch64 download succeeds. The 32-bit armv7 check is informational: it is expected to fail.
set -euo pipefail
PYTHON=${PYTHON:-python3}
OUT=${1:-build/check-pi}
DEVICE_DEPS=(numpy 'paho-mqtt>=2.1' ai-edge-litert)
platforms=(--platform manylinux2014_aarch64)
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_aarch64"); done
common=(--only-binary=:all: --python-version 3.11 --implementation cp)

rm -rf "$OUT" && mkdir -p "$OUT/aarch64" "$OUT/armv7l"
echo "== aarch64 (64-bit Raspberry Pi OS): ${DEVICE_DEPS[*]} and their dependencies"
"$PYTHON" -m pip download --quiet "${common[@]}" "${platforms[@]}" -d "$OUT/aarch64" "${DEVICE_DEPS[@]}"
ls -1 "$OUT/aarch64"
echo "== armv7l (32-bit Raspberry Pi OS), expected to fail: no ai-edge-litert or tflite-runtime wheels"
for dep in ai-edge-litert tflite-runtime; do
  if "$PYTHON" -m pip download --quiet --no-deps "${common[@]}" --platform linux_armv7l -d "$OUT/armv7l" "$dep" \
      >/dev/null 2>&1; then
    echo "$dep: a wheel exists for armv7l"
  else
    echo "$dep: no wheel for armv7l"
  fi
done
