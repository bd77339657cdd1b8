#!/usr/bin/env bash
# A STAND-IN for python:<version>-slim, made from Debian packages, for machines that cannot reach
# Docker Hub (a CI runner behind a registry allow-list, say). It is not the official image: it is
# Debian's own python3 (3.11.2 on Debian 12, 3.13 on Debian 13) in /usr/bin rather than
# python.org's build in /usr/local. pip is installed from Debian's own pip wheel into
# /usr/local, as in the official image, so that no Python package is Debian's to manage. Images built on it run the same code on
# the same pinned wheels; use the official base for what you push.
#
#   docker/standin-base.sh 3.11                 # -> localhost/standin/python:3.11-slim
#   make images BASE_IMAGE=localhost/standin/python:3.11-slim
#
# Needs root and debootstrap, plus buildah (no daemon) or a docker daemon.
# DEBIAN_MIRROR overrides the Debian mirror.
set -euo pipefail

version="${1:?usage: $0 PYTHON_VERSION [IMAGE]   (PYTHON_VERSION: 3.11 or 3.13)}"
case "$version" in
  3.11) suite=bookworm ;;
  3.13) suite=trixie ;;
  *)
    echo "No Debian release ships Python $version as its python3: a stand-in can be made for 3.11" \
      "(Debian 12) or 3.13 (Debian 13). Use the official python:$version-slim as BASE_IMAGE." >&2
    exit 2
    ;;
esac
image="${2:-localhost/standin/python:$version-slim}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

for tool in debootstrap chroot; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (Debian/Ubuntu: apt-get install debootstrap)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root; run this script as root" >&2; exit 2; }

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite (Python $version) into $rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

found="$(chroot "$rootfs" python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$found" = "$version" ] || { echo "Debian $suite ships Python $found, not $version" >&2; exit 1; }
# As in python:slim, pip installs into this Python (no PEP 668 marker), and no apt lists are kept.
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# Debian disables ensurepip for its python3; pip installs itself from the wheel python3-venv ships.
chroot "$rootfs" sh -c 'wheel="$(ls /usr/share/python-wheels/pip-*.whl)" &&
  python "$wheel/pip" install --quiet --no-index --no-cache-dir --root-user-action=ignore "$wheel"'
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/*

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if command -v buildah >/dev/null; then
  container="$(buildah from scratch)"
  buildah copy --quiet "$container" "$rootfs" /
  buildah config --env "PATH=$path" --env LANG=C.UTF-8 --cmd python3 \
    --label "org.opencontainers.image.description=stand-in for python:$version-slim from Debian $suite" "$container"
  buildah commit --quiet --rm "$container" "$image" >/dev/null
else
  tar -C "$rootfs" -c . | docker import --change "ENV PATH=$path" --change "ENV LANG=C.UTF-8" \
    --change 'CMD ["python3"]' - "$image" >/dev/null
fi
echo "built $image: a stand-in for python:$version-slim (Debian $suite, $(chroot "$rootfs" python -V 2>&1))"
