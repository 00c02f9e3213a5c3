#!/usr/bin/env bash
# Build a bootable raw disk image of Hookline from Debian packages only:
#
#   sudo image/build-image.sh amd64          # writes build/hookline-amd64.img
#
# amd64: GPT with a BIOS boot partition (grub i386-pc core.img), an ESP (grub x86_64-efi as the
# removable-media path EFI/BOOT/BOOTX64.EFI) and an ext4 root, so the same image boots by BIOS
# and by UEFI. Nothing is mounted but the chroot's /proc, /sys, /dev and the caches: the ext4 and
# FAT filesystems are made from folders (mkfs.ext4 -d, mtools) and the disk is assembled with
# sgdisk + dd; grub's boot sector and core.img are written into the file by grub_bios_boot.py.
#
# Caches (under build/cache, kept between builds): the debootstrap result as a tarball keyed by
# suite + package list, the .deb files, and pip's wheel cache (pyalsaaudio is compiled once).
# Host packages: see HOST_PACKAGES below (`image/build-image.sh --host-packages` prints them).
set -euo pipefail

# (make appliance-test adds qemu and OVMF to boot it: see the Makefile.)
HOST_PACKAGES="debootstrap grub-pc-bin grub-efi-amd64-bin grub2-common dosfstools mtools gdisk e2fsprogs zstd python3"
if [ "${1:-}" = --host-packages ]; then echo "$HOST_PACKAGES"; exit 0; fi

target=${1:-amd64}
case $target in amd64|arm64-raspi) ;; *) echo "build-image.sh: TARGET is amd64 or arm64-raspi (got '$target')" >&2; exit 2;; esac
[ "$(id -u)" = 0 ] || { echo "build-image.sh: run as root (debootstrap, chroot)" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$repo/build}
cache=$out/cache
work=$out/work-$target
root=$work/rootfs
img=$out/hookline-$target.img
suite=bookworm
mirror=${MIRROR:-http://deb.debian.org/debian}
# Fixed identities: the early grub config finds the root by this UUID, and fixed ids keep two
# builds of the same inputs alike.
root_uuid=5a1e0c4b-1d2e-4f5a-9b8c-0d0c11e00001
esp_id=484b4c4e   # FAT volume id: "HKLN"
boot_mib=2 esp_mib=64

# Everything the box needs from Debian, installed by debootstrap so the tarball caches it; the
# list in install-on-box.sh is a subset (its apt-get install is then a no-op). debootstrap does
# not resolve "A | B" dependencies: polkitd needs logind, so libpam-systemd is named here.
packages=(linux-image-amd64 systemd systemd-sysv systemd-timesyncd systemd-resolved udev dbus initramfs-tools
    ca-certificates python3 python3-venv python3-dev gcc libasound2-dev libsndfile1 alsa-utils
    avahi-daemon polkitd libpam-systemd iproute2 kmod procps less)

# Another target's specifics (architecture, kernel, boot files, disk layout) are in its own file.
arch=$target debootstrap_opts=()
[ "$target" = amd64 ] || . "$repo/image/disk-$target.sh"

t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

mkdir -p "$cache/debs" "$cache/pip" "$work"
key=$(printf '%s\n' "$suite" "$mirror" "${packages[@]}" | sha256sum | cut -c1-12)
base=$cache/base-$suite-$target-$key.tar.zst

cleanup() {
    for m in var/cache/apt/archives root/.cache/pip dev/pts dev sys proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
    return 0
}
trap cleanup EXIT
cleanup
rm -rf "$root"
mkdir -p "$root"

if [ -f "$base" ]; then
    say "base from cache: $base"
    tar -C "$root" --zstd -xpf "$base"
else
    say "debootstrap $suite minbase (${#packages[@]} extra packages)"
    debootstrap --variant=minbase --arch="$arch" "${debootstrap_opts[@]}" --cache-dir="$cache/debs" \
        --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$root" "$mirror"
    rm -f "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" --zstd -cpf "$base.tmp" . && mv "$base.tmp" "$base"
    say "base cached: $(du -h "$base" | cut -f1)"
fi

say "chroot: install-on-box.sh"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind "$cache/debs" "$root/var/cache/apt/archives"
mkdir -p "$root/root/.cache/pip"
mount --bind "$cache/pip" "$root/root/.cache/pip"
rm -f "$root/etc/resolv.conf"; cp /etc/resolv.conf "$root/etc/resolv.conf"   # for apt in the chroot
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # start no service in the chroot
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
# The source as tracked (plus untracked, not ignored) files: no venv, no build/ in the image.
src=$root/tmp/hookline-src
mkdir -p "$src"
git -C "$repo" ls-files -co --exclude-standard -z | tar -C "$repo" --null -T - -cf - | tar -C "$src" -xf -
# pip trusts the build machine's CA bundle for this run only (a TLS-inspecting proxy on the way
# to PyPI is signed by a CA that the image's ca-certificates does not have); the box keeps its own.
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$root/tmp/build-ca.crt"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/tmp/build-ca.crt bash /tmp/hookline-src/image/install-on-box.sh
rm -rf "$src" "$root/tmp/build-ca.crt"

say "configure the box"
echo hookline > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thookline\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
echo "UUID=$root_uuid / ext4 defaults,noatime,errors=remount-ro 0 1" > "$root/etc/fstab"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\nMulticastDNS=no\n' > "$root/etc/systemd/network/20-wired.network"
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service
# First boot grows the root to the whole disk (image/grow_root.py): images only, not
# install-on-box.sh, which must never change a technician's own disk layout.
install -D -m 0755 "$repo/image/grow_root.py" "$root/usr/local/sbin/hookline-grow-root"
install -m 0644 "$repo/firmware_config/hookline-grow-root.service" "$root/etc/systemd/system/"
chroot "$root" systemctl enable hookline-grow-root.service
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"   # DHCP DNS via resolved
: > "$root/etc/machine-id"   # a fresh id on each box's first boot
rm -f "$root/usr/sbin/policy-rc.d"
# What went in, beside the image: the mirror and PyPI move on, so this is what says which
# package and wheel versions a build had (to compare two builds, or to pin a rebuild).
{ echo "# hookline $(git -C "$repo" describe --always --dirty) for $target, built $(date -u +%FT%TZ)"
  chroot "$root" dpkg-query -W -f '${Package} ${Version} ${Architecture}\n'
  chroot "$root" /opt/hookline/venv/bin/python -m pip freeze --all; } > "$out/hookline-$target.manifest"
cleanup
rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/cache/apt/*.bin

# The rest (boot loader, filesystems, disk) is amd64's; another target has its own.
if [ "$target" != amd64 ]; then target_disk; exit 0; fi

say "grub config and modules"
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=initrd.img-${kernel#vmlinuz-}
[ -f "$root/boot/$initrd" ] || { echo "build-image.sh: no $initrd in the image" >&2; exit 1; }
mkdir -p "$root/boot/grub"
cp -r /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi "$root/boot/grub/"
cat > "$root/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=1
menuentry "Hookline" {
    search --no-floppy --fs-uuid --set=root $root_uuid
    linux /boot/$kernel root=UUID=$root_uuid ro loglevel=4 systemd.show_status=1 console=tty0 console=ttyS0,115200n8
    initrd /boot/$initrd
}
EOF
early=$work/early.cfg
printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$root_uuid" > "$early"
mods="part_gpt ext2 search search_fs_uuid normal linux configfile echo serial terminal gzio test"
grub-mkimage -O i386-pc -o "$work/core.img" -p /boot/grub -c "$early" biosdisk $mods
grub-mkimage -O x86_64-efi -o "$work/BOOTX64.EFI" -p /boot/grub -c "$early" $mods efi_gop all_video
cp /usr/lib/grub/i386-pc/boot.img "$work/boot.img"

say "filesystems"
root_mib=$(( $(du -sm "$root" | cut -f1) * 13 / 10 + 256 ))
rm -f "$work/root.ext4" "$work/esp.fat"
mkfs.ext4 -q -F -L hookline-root -U "$root_uuid" -E hash_seed="$root_uuid" -d "$root" \
    "$work/root.ext4" "${root_mib}M"
mkfs.vfat -C -n HOOKLINE -i "$esp_id" "$work/esp.fat" $(( esp_mib * 1024 )) >/dev/null
mmd -i "$work/esp.fat" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.fat" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

# (sgdisk -q writes nothing at all, with exit status 0: keep it verbose, to /dev/null.)
say "disk: GPT, BIOS boot, ESP, root (${root_mib} MiB)"
rm -f "$img.tmp"
truncate -s $(( (1 + boot_mib + esp_mib + root_mib + 1) * 1024 * 1024 )) "$img.tmp"
sgdisk -U 484f4f4b-4c49-4e45-0000-000000000000 \
    -n 1:2048:+${boot_mib}M -t 1:ef02 -c 1:bios-boot -u 1:484f4f4b-4c49-4e45-0000-000000000001 \
    -n 2:0:+${esp_mib}M -t 2:ef00 -c 2:esp -u 2:484f4f4b-4c49-4e45-0000-000000000002 \
    -n 3:0:0 -t 3:8304 -c 3:root -u 3:484f4f4b-4c49-4e45-0000-000000000003 "$img.tmp" >/dev/null
dd if="$work/esp.fat" of="$img.tmp" bs=1M seek=$(( 1 + boot_mib )) conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img.tmp" bs=1M seek=$(( 1 + boot_mib + esp_mib )) conv=notrunc,sparse status=none
# boot.img into the MBR (keeping the protective partition table), core.img into the BIOS boot
# partition: grub_bios_boot.py does grub-bios-setup's job on the file (see there why).
python3 "$repo/image/grub_bios_boot.py" "$img.tmp" "$work/boot.img" "$work/core.img" 2048 $(( boot_mib * 2048 ))
mv "$img.tmp" "$img"
say "wrote $img ($(du -h --apparent-size "$img" | cut -f1), $(du -h "$img" | cut -f1) on disk)"
