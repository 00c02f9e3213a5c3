# Hookline: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing (Debian/Raspberry Pi OS packages, a virtualenv, the package)
# and are quick when everything is already there.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Build and run needs: pyalsaaudio compiles against libasound; soundfile needs libsndfile;
# alsa-utils and lame are the side-by-side reference in the benchmark.
APT_PACKAGES := gcc libasound2-dev libsndfile1 alsa-utils lame
# Tests also use real speech (espeak-ng) to check that speech never decodes as touch-tones,
# and Debian's Chromium, driven by Playwright, for the web pages (never `playwright install`).
# id3v2 (id3lib), eyed3 and mp3val read the recordings as other tools and players do; strace
# stops an export mid-copy from outside it (the pulled-stick and killed-export tests).
TEST_APT_PACKAGES := espeak-ng chromium id3v2 eyed3 mp3val mtools dosfstools strace
# The live-path benchmark paces a real-time ALSA device with a private PulseAudio null sink.
BENCH_LIVE_APT_PACKAGES := pulseaudio libasound2-plugins
# `make image TARGET=amd64` (as root) builds build/hookline-$(TARGET).img from Debian packages:
# debootstrap for the root, grub's BIOS and EFI images, mtools/dosfstools for the ESP, sgdisk for
# the GPT, zstd for the cached base tarball.
TARGET ?= amd64
IMAGE_APT_PACKAGES := debootstrap grub-pc-bin grub-efi-amd64-bin grub2-common dosfstools mtools gdisk e2fsprogs zstd
# `make appliance-test` boots the amd64 image under qemu (BIOS, then UEFI after the power cut);
# debugfs (e2fsprogs) and sfdisk (fdisk) write the test's files into a copy of it, lame is copied
# in for the CPU comparison, and the USB stick is a FAT32 image (dosfstools, read back by mtools).
APPLIANCE_TEST_APT_PACKAGES := qemu-system-x86 ovmf e2fsprogs fdisk dosfstools mtools lame
# TARGET=arm64-raspi also runs the aarch64 chroot under qemu-user and writes an MBR with sfdisk.
IMAGE_APT_PACKAGES_arm64-raspi := qemu-user-static binfmt-support fdisk

.PHONY: demo test lint bench bench-live system-packages clean image appliance-test

demo: $(VENV)/.stamp-app
	@echo "The hookline command is in $(VENV): in another terminal here, run '. $(VENV)/bin/activate'," \
		"then for example 'hookline calls --data demo-data'."
	$(BIN)/hookline demo

# The suite runs on pytest-xdist workers: "auto" is two per core, at most 8. loadgroup keeps the
# tests sharing a module fixture on one worker, and no reorder keeps conftest's order (the slow
# tests first); tests/conftest.py says why. `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= auto
test: $(VENV)/.stamp-test
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# ruff with the rules in pyproject.toml (pyflakes, pycodestyle, import order, bugbear).
lint: $(VENV)/.stamp-lint
	$(BIN)/ruff check .

bench: $(VENV)/.stamp-app
	$(BIN)/python hw_bench/bench_recorder.py

bench-live: $(VENV)/.stamp-app
	$(MAKE) --no-print-directory system-packages APT_PACKAGES="$(APT_PACKAGES) $(BENCH_LIVE_APT_PACKAGES)"
	$(BIN)/python hw_bench/bench_live.py

# Install the Debian packages that are missing (as root, or through sudo).
system-packages:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	$(PY) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo=sudo; \
		else echo "need root to install:$$missing (run: apt-get install$$missing)" >&2; exit 1; fi; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

$(VENV)/.stamp-venv:
	$(MAKE) --no-print-directory system-packages
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	touch $@

$(VENV)/.stamp-app: $(VENV)/.stamp-venv pyproject.toml
	$(MAKE) --no-print-directory system-packages
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-app
	$(MAKE) --no-print-directory system-packages APT_PACKAGES="$(APT_PACKAGES) $(TEST_APT_PACKAGES)"
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(VENV)/.stamp-lint: $(VENV)/.stamp-app
	$(BIN)/pip install -q -e '.[lint]'
	touch $@

image:
	$(MAKE) --no-print-directory system-packages APT_PACKAGES="$(IMAGE_APT_PACKAGES) $(IMAGE_APT_PACKAGES_$(TARGET))"
	image/build-image.sh $(TARGET)

# The virtual box (tests/appliance): builds the amd64 image (cached after the first time), boots
# it under qemu and checks the system side from outside and inside. Needs root. About 15 minutes
# from cold here; README.md has the figures.
appliance-test: $(VENV)/.stamp-test
	$(MAKE) --no-print-directory system-packages APT_PACKAGES="$(APPLIANCE_TEST_APT_PACKAGES)"
	$(MAKE) --no-print-directory image TARGET=amd64
	HOOKLINE_APPLIANCE_TEST=1 $(BIN)/pytest -p no:xdist -p no:cacheprovider -v tests/appliance

clean:
	rm -rf $(VENV) demo-data build *.egg-info
