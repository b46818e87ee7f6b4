#!/usr/bin/env bash
# Stages Mesa 25's lavapipe (a Vulkan driver on the CPU) from Debian bookworm-backports into a cache folder,
# without installing it over the system's Mesa, so the WebGPU tests can run on Dawn's Vulkan backend — the
# path the H100 takes — on a machine with no GPU (Debian 12's own Mesa 22 lavapipe gives Dawn no adapter).
#
#   bash tools/mesa-vulkan/stage.sh            # → ~/.cache/blastkit/mesa-vulkan (prints the env to use)
#   eval "$(bash tools/mesa-vulkan/stage.sh --env)"
#   BLASTKIT_WEBGPU_TEST_ADAPTER=auto pnpm --filter @blastkit/backend-webgpu test
#
# Needs root for apt (it adds bookworm-backports to apt's sources if missing) and Debian's mirrors.
set -euo pipefail
DEST="${MESA_VULKAN_DIR:-$HOME/.cache/blastkit/mesa-vulkan}"
root="$DEST/root"
print_env() {
  echo "export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  echo "export VK_ICD_FILENAMES=$root/usr/share/vulkan/icd.d/lvp_icd.json"
}
if [ -f "$root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" ]; then
  [ "${1:-}" = "--env" ] && print_env || { echo "mesa-vulkan: already staged in $DEST"; print_env; }
  exit 0
fi
policy="$(apt-cache policy mesa-vulkan-drivers)"
if [[ "$policy" != *bookworm-backports* ]]; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/bookworm-backports.list
  apt-get update -qq
fi
mkdir -p "$DEST/debs" "$root"
cd "$DEST/debs"
# lavapipe 25 and the libraries it needs newer than Debian 12's (libdrm) or that a slim image may lack
apt-get download -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 libdrm2 libdrm-amdgpu1 \
  libwayland-client0 libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 \
  libxshmfence1 libx11-xcb1 2>/dev/null
for f in *.deb; do dpkg -x "$f" "$root"; done
[ "${1:-}" = "--env" ] && print_env || { echo "mesa-vulkan: staged in $DEST"; print_env; }
