#!/usr/bin/env bash
# Install Hookline on a Raspberry Pi OS (bookworm) system: run as root on the box, or from the
# pi-gen stage in this folder when building an image. Idempotent: safe to run again to update.
#
#   sudo image/install-on-box.sh            # from a checkout of this repository
#
# What it does: system packages, a `hookline` system user (the recorder and the web page) and a
# `hookline-seal` one (seals the audit log's head, which `hookline` cannot write), a virtualenv
# in /opt/hookline/venv with Hookline installed, the box's config files (hookline.toml only if
# absent: the technician's settings are never overwritten), the data folder, and the systemd units.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/hookline
[ "$(id -u)" = 0 ] || { echo "install-on-box.sh: run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-dev gcc libasound2-dev libsndfile1 \
    alsa-utils avahi-daemon polkitd
# Time sync: systemd-timesyncd, unless another NTP daemon is installed. Its state feeds the page's
# "clock not synchronised" warning (/run/systemd/timesync/synchronized; chrony and ntpd write no
# such file) and it saves the time every minute, from which a box without an RTC starts
# (docs/appliance.md, "The clock").
if ! { dpkg-query -W -f='${Status}\n' chrony ntp ntpsec openntpd 2>/dev/null || true; } | grep -q "install ok installed"; then
    apt-get install -y -qq systemd-timesyncd
    systemctl enable systemd-timesyncd.service
fi

id hookline >/dev/null 2>&1 || useradd --system --home-dir /var/lib/hookline --shell /usr/sbin/nologin hookline
# The recorder's unit asks for group gpio (SupplementaryGroups=): Raspberry Pi OS has it, plain
# Debian does not, and a missing group stops the unit with status 216/GROUP.
getent group gpio >/dev/null || groupadd --system gpio
for group in audio gpio dialout; do
    getent group "$group" >/dev/null && usermod -aG "$group" hookline
done
# The audit sealer: in group hookline, so it can read the catalog (never write it); it alone
# writes /var/lib/hookline-seal (the unit's StateDirectory).
id hookline-seal >/dev/null 2>&1 || useradd --system --gid hookline --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin hookline-seal

python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade pip
"$prefix/venv/bin/pip" install -q "$repo"
ln -sf "$prefix/venv/bin/hookline" /usr/local/bin/hookline   # the README's commands work as typed

# A separate data disk (docs/appliance.md, "The data disk"): a filesystem labelled hookline-data
# is mounted at /var/lib/hookline with options that suit the recorder's fsyncs, by a line in
# /etc/fstab; never over a data folder that already holds something, and never from an image
# build's chroot (the disks there are the build machine's).
# The line names the disk by its UUID, found now: a label alone would let a USB stick labelled
# hookline-data take the disk's place at the next boot.
data_disk_line=$(grep -v '^#' "$repo/firmware_config/fstab-data-disk")
if [ -d /run/systemd/system ] && blkid -L hookline-data >/dev/null 2>&1 \
        && ! grep -qE '^[^#]*[[:space:]]/var/lib/hookline[[:space:]]' /etc/fstab; then
    labelled=$(blkid -t LABEL=hookline-data -o device)
    if [ "$(echo "$labelled" | wc -l)" != 1 ]; then
        echo "install-on-box.sh: not mounting a data disk: more than one filesystem is labelled hookline-data ($(echo $labelled)); unplug all but the disk and run this again" >&2
    elif mountpoint -q /var/lib/hookline || [ -n "$(ls -A /var/lib/hookline 2>/dev/null)" ]; then
        echo "install-on-box.sh: not mounting the disk labelled hookline-data: /var/lib/hookline holds data already (docs/appliance.md)" >&2
    else
        uuid=$(blkid -s UUID -o value "$labelled")
        echo "${data_disk_line/LABEL=hookline-data/UUID=$uuid}" >> /etc/fstab
        systemctl daemon-reload
        mkdir -p /var/lib/hookline && mount /var/lib/hookline
    fi
fi
install -d -o hookline -g hookline -m 0750 /var/lib/hookline
install -d -m 0755 /etc/hookline
[ -e /etc/hookline/hookline.toml ] || install -m 0644 "$repo/firmware_config/hookline.toml" /etc/hookline/hookline.toml
[ -e /etc/asound.conf ] || install -m 0644 "$repo/firmware_config/asound.conf" /etc/asound.conf
install -m 0644 "$repo/firmware_config/70-hookline-audio.rules" /etc/udev/rules.d/70-hookline-audio.rules
install -m 0644 "$repo/firmware_config/70-hookline-serial.rules" /etc/udev/rules.d/70-hookline-serial.rules
install -m 0644 "$repo/firmware_config/70-hookline-sticks.rules" /etc/udev/rules.d/70-hookline-sticks.rules
udevadm control --reload-rules 2>/dev/null || true
# USB sticks: mounted under /media/hookline by hookline-stick@.service; user hookline may stop
# (eject) those units and no others.
install -m 0644 "$repo/firmware_config/hookline-sticks.conf" /etc/tmpfiles.d/hookline-sticks.conf
systemd-tmpfiles --create /etc/tmpfiles.d/hookline-sticks.conf 2>/dev/null || install -d -m 0755 /media/hookline
install -d -m 0755 /etc/polkit-1/rules.d
install -m 0644 "$repo/firmware_config/50-hookline-stick.rules" /etc/polkit-1/rules.d/50-hookline-stick.rules
install -m 0644 "$repo/firmware_config/hookline.service.avahi" /etc/avahi/services/hookline.service
# Logs: journald with a size cap, kept across reboots (firmware_config/journald-hookline.conf).
install -d -m 0755 /etc/systemd/journald.conf.d
install -m 0644 "$repo/firmware_config/journald-hookline.conf" /etc/systemd/journald.conf.d/hookline.conf
# The device classes the recorder's unit allows are registered at boot (hookline-modules.conf).
install -m 0644 "$repo/firmware_config/hookline-modules.conf" /etc/modules-load.d/hookline.conf
install -m 0644 "$repo/firmware_config/hookline-recorder.service" /etc/systemd/system/
install -m 0644 "$repo/firmware_config/hookline-web.service" /etc/systemd/system/
install -m 0644 "$repo/firmware_config/hookline-stick@.service" /etc/systemd/system/
install -m 0644 "$repo/firmware_config/hookline-audit-seal.service" /etc/systemd/system/
install -m 0644 "$repo/firmware_config/hookline-audit-seal.timer" /etc/systemd/system/

# Refuse to enable a recorder whose config is broken: say what to fix instead.
if ! runuser -u hookline -- "$prefix/venv/bin/python" -c \
        "from appliance import config; config.load('/etc/hookline/hookline.toml')"; then
    echo "install-on-box.sh: fix /etc/hookline/hookline.toml, then: systemctl enable --now hookline-recorder hookline-web hookline-audit-seal.timer" >&2
    exit 2
fi
# In an image build's chroot no systemd runs: enabling works offline, daemon-reload would fail.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl try-restart systemd-journald.service    # reads its drop-in only when it starts
    systemctl restart systemd-modules-load.service || true
fi
systemctl enable hookline-recorder.service hookline-web.service hookline-audit-seal.timer avahi-daemon.service
echo "Hookline installed. Start it with: systemctl start hookline-recorder hookline-web hookline-audit-seal.timer"
