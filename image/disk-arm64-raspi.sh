# shellcheck shell=bash
# TARGET=arm64-raspi for image/build-image.sh (sourced by it): Debian bookworm arm64 with
# Debian's own Raspberry Pi support, linux-image-arm64 + raspi-firmware.
arch=arm64
# raspi-firmware (the GPU firmware the Pi's boot ROM loads: start*.elf, fixup*.dat) is in non-free-firmware.
debootstrap_opts=(--components=main,non-free-firmware)
packages=("${packages[@]/#linux-image-amd64/linux-image-arm64}" raspi-firmware)

# The chroot's programs are aarch64: the kernel runs them through qemu-user (binfmt_misc, with the
# F flag of qemu-user-static, so no qemu binary is copied into the root).
if [ "$(dpkg --print-architecture)" != arm64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 || true
    grep -qsx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || {
        echo "build-image.sh: aarch64 programs cannot run here (install qemu-user-static and binfmt-support)" >&2; exit 1; }
fi

# MBR, not GPT: the Pi 3's boot ROM reads only an MBR. The ids are fixed (see build-image.sh):
# the kernel finds the root by PARTUUID=<disk id>-02, so the image boots from an SD card or a USB
# disk alike, without a device name like /dev/mmcblk0p2.
disk_id=484b4c4e   # "HKLN", also the FAT volume id
boot_start=8192 boot_mib=256   # 4 MiB aligned for SD cards' erase blocks; room for two kernels + initrds

target_disk() {
    say "raspi-firmware: boot files in /boot/firmware"
    # raspi-firmware writes config.txt and cmdline.txt from this file (on each kernel upgrade on
    # the box too). Explicit values, as the build machine is no Pi: "auto" would probe the
    # machine running the build (its /dev/ttyS1, its model), not the box.
    cat >> "$root/etc/default/raspi-firmware" <<EOF

# Hookline image (image/disk-arm64-raspi.sh): the root by its partition's fixed id; the serial
# console on the GPIO UART (Pi 3 and 4: ttyS1), boot messages on the screen; no CMA pool
# (headless, and a Pi 4 may not boot with one set).
ROOTPART=PARTUUID=$disk_id-02
CONSOLES="ttyS1,115200 tty0"
CMA=0
EOF
    rm -rf "${root:?}/boot/firmware"
    mkdir -p "$root/boot/firmware"
    # The package's own postinst: copies the firmware (start*.elf, fixup*.dat, bootcode.bin) and
    # runs the kernel hook (kernel, initrd, DTBs, config.txt, cmdline.txt). It needs /proc to
    # see that it runs in a chroot (ischroot), or it asks for /boot/firmware to be a mount.
    mount -t proc proc "$root/proc"
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive dpkg-reconfigure raspi-firmware
    umount "$root/proc"
    for f in start4.elf fixup4.dat start.elf fixup.dat bootcode.bin config.txt cmdline.txt; do
        [ -s "$root/boot/firmware/$f" ] || { echo "build-image.sh: no /boot/firmware/$f" >&2; exit 1; }
    done
    ls "$root"/boot/firmware/vmlinuz-* "$root"/boot/firmware/initrd.img-* >/dev/null
    # Kernel upgrades on the box update the FAT through this mount; nofail: a damaged FAT must
    # not keep the recorder from starting (the firmware has already read what it needs).
    echo "PARTUUID=$disk_id-01 /boot/firmware vfat defaults,noatime,nofail 0 2" >> "$root/etc/fstab"
    # apt on the box: raspi-firmware's updates come from non-free-firmware.
    sed -i 's/^\(deb .* main\)$/\1 non-free-firmware/' "$root/etc/apt/sources.list"

    say "filesystems"
    local boot_fat=$work/boot.fat root_mib
    rm -f "$boot_fat" "$work/root.ext4"
    mkfs.vfat -F 32 -C -n RASPIFIRM -i "$disk_id" "$boot_fat" $(( boot_mib * 1024 )) >/dev/null
    mcopy -s -p -m -i "$boot_fat" "$root"/boot/firmware/* ::/
    # The root keeps an empty /boot/firmware as the mount point (the files are on the FAT).
    find "$root/boot/firmware" -mindepth 1 -delete
    root_mib=$(( $(du -sm "$root" | cut -f1) * 13 / 10 + 256 ))
    mkfs.ext4 -q -F -L hookline-root -U "$root_uuid" -E hash_seed="$root_uuid" -d "$root" \
        "$work/root.ext4" "${root_mib}M"

    say "disk: MBR, FAT32 boot (${boot_mib} MiB), ext4 root (${root_mib} MiB)"
    rm -f "$img.tmp"
    truncate -s $(( boot_start * 512 + (boot_mib + root_mib) * 1024 * 1024 )) "$img.tmp"
    sfdisk --no-reread --no-tell-kernel "$img.tmp" >/dev/null <<EOF
label: dos
label-id: 0x$disk_id
unit: sectors

start=$boot_start, size=$(( boot_mib * 2048 )), type=c
start=$(( boot_start + boot_mib * 2048 )), type=83
EOF
    dd if="$boot_fat" of="$img.tmp" bs=512 seek=$boot_start conv=notrunc,sparse status=none
    dd if="$work/root.ext4" of="$img.tmp" bs=1M seek=$(( boot_start / 2048 + boot_mib )) conv=notrunc,sparse status=none
    mv "$img.tmp" "$img"
    say "wrote $img ($(du -h --apparent-size "$img" | cut -f1), $(du -h "$img" | cut -f1) on disk)"
}

