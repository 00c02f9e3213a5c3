#!/bin/bash -e
# pi-gen stage step: copy this repository into the image and run the box installer in it.
# Use: copy image/stage-hookline into a pi-gen checkout, add it to STAGE_LIST after stage2.
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
install -d "${ROOTFS_DIR}/opt/hookline/src"
rsync -a --exclude .git --exclude .venv --exclude demo-data "$repo/" "${ROOTFS_DIR}/opt/hookline/src/"
on_chroot <<CHROOT
/opt/hookline/src/image/install-on-box.sh
hostnamectl set-hostname hookline 2>/dev/null || echo hookline > /etc/hostname
CHROOT
