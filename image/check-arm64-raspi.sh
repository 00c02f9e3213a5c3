#!/usr/bin/env bash
# Checks the Raspberry Pi image as far as a build machine without a Pi can, mounting nothing:
#
#   sudo image/check-arm64-raspi.sh [build/hookline-arm64-raspi.img [build/work-arm64-raspi/rootfs]]
#
# The MBR (sfdisk), the boot partition's files and what config.txt and cmdline.txt say (mtools),
# the root partition's enabled units and fstab (debugfs), and, in the root folder the image was
# made from, that every compiled file of the venv is aarch64 and that `hookline --help` runs
# (under qemu-user, as on the box). Exits 1 at the first thing that is wrong.
set -euo pipefail

img=${1:-build/hookline-arm64-raspi.img}
root=${2:-build/work-arm64-raspi/rootfs}
disk_id=484b4c4e boot_start=8192
fail() { echo "check-arm64-raspi: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

table=$(sfdisk -d "$img")
echo "$table"
grep -qx 'label: dos' <<<"$table" || fail "not an MBR disk"
grep -qx "label-id: 0x$disk_id" <<<"$table" || fail "disk id is not 0x$disk_id"
grep -Eq "^$img""1 : start= *$boot_start, size= *[0-9]+, type=c$" <<<"$table" || fail "p1 is not FAT32 (type c) at sector $boot_start"
p2=$(grep -E "^$img""2 : " <<<"$table") || fail "no p2"
grep -q 'type=83$' <<<"$p2" || fail "p2 is not a Linux partition"
root_start=$(sed -E 's/.*start= *([0-9]+),.*/\1/' <<<"$p2")
ok "MBR: p1 FAT32 at $boot_start, p2 Linux at $root_start"

fat="$img@@$(( boot_start * 512 ))"
listing=$(mdir -i "$fat" -b ::/)
for f in bootcode.bin start.elf fixup.dat start4.elf fixup4.dat config.txt cmdline.txt \
        bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb bcm2837-rpi-cm3-io3.dtb \
        bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb bcm2711-rpi-cm4-io.dtb; do
    grep -qx "::/$f" <<<"$listing" || fail "no $f on the boot partition"
done
kernel=$(grep -Eo 'vmlinuz-[^/]+$' <<<"$listing") || fail "no kernel on the boot partition"
initrd=$(grep -Eo 'initrd\.img-[^/]+$' <<<"$listing") || fail "no initrd on the boot partition"
ok "boot partition: firmware, $kernel, $initrd, DTBs for Pi 3, 3+, CM3, 4, 400, CM4"

config=$(mtype -i "$fat" ::/config.txt)
cmdline=$(mtype -i "$fat" ::/cmdline.txt)
echo "--- config.txt"; grep -v '^#' <<<"$config" | grep .; echo "--- cmdline.txt"; echo "$cmdline"
grep -qx 'arm_64bit=1' <<<"$config" || fail "config.txt: no arm_64bit=1"
grep -qx "kernel=$kernel" <<<"$config" || fail "config.txt: kernel is not $kernel"
grep -qx "initramfs $initrd" <<<"$config" || fail "config.txt: initramfs is not $initrd"
grep -q "root=PARTUUID=$disk_id-02 " <<<"$cmdline" || fail "cmdline.txt: root is not PARTUUID=$disk_id-02"
grep -q 'console=ttyS1,115200' <<<"$cmdline" || fail "cmdline.txt: no serial console"
if grep -q 'cma=' <<<"$cmdline"; then fail "cmdline.txt sets a CMA pool"; fi
ok "config.txt and cmdline.txt"

rootfs="$img?offset=$(( root_start * 512 ))"
debugfs -R "cat /etc/fstab" "$rootfs" 2>/dev/null | grep -q "^PARTUUID=$disk_id-01 /boot/firmware vfat" \
    || fail "fstab does not mount the boot partition on /boot/firmware"
wants=$(for t in multi-user sysinit timers; do
    debugfs -R "ls -l /etc/systemd/system/$t.target.wants" "$rootfs" 2>/dev/null; done)
for unit in hookline-recorder.service hookline-web.service hookline-audit-seal.timer avahi-daemon.service \
        hookline-grow-root.service \
        systemd-networkd.service systemd-resolved.service systemd-timesyncd.service; do
    grep -q " $unit" <<<"$wants" || fail "$unit is not enabled"
done
ok "root partition: fstab, units enabled"

[ -x "$root/opt/hookline/venv/bin/python" ] || fail "no venv in $root"
mapfile -t sos < <(find "$root/opt/hookline/venv" -name '*.so*' -type f)
[ "${#sos[@]}" -gt 0 ] || fail "no compiled files in the venv"
wrong=$(file -b "${sos[@]}" | grep -c -v 'ELF 64-bit LSB shared object, ARM aarch64' || true)
[ "$wrong" = 0 ] || fail "$wrong compiled files in the venv are not aarch64"
alsa=$(find "$root/opt/hookline/venv" -name 'alsaaudio*.so') || true
[ -n "$alsa" ] || fail "no pyalsaaudio extension"
file -b "$alsa"
ok "venv: ${#sos[@]} compiled files, all aarch64 (pyalsaaudio built in the chroot)"

help=$(chroot "$root" /opt/hookline/venv/bin/hookline --help) || fail "hookline --help failed under qemu-user"
head -3 <<<"$help"
ok "hookline --help runs (aarch64, qemu-user)"
