#!/bin/sh
# Managed by kvm-cluster: build the smoke VM's kernel and initramfs from what
# this node already has (its own kernel, busybox, the virtio modules of that
# kernel): nothing is downloaded, no image is shipped.
#   sh prepare.sh DIR    writes DIR/vmlinuz and DIR/initrd.img, prints
#                        "kernel VERSION" and "accel kvm|tcg"
set -eu
cd /
out=$1
kver=$(uname -r)
if [ ! -e "/boot/vmlinuz-$kver" ]; then
    # A container (the lab) runs the machine's kernel: take the newest installed one.
    kver=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1)
fi
[ -n "$kver" ] && [ -e "/boot/vmlinuz-$kver" ] || { echo "no kernel image in /boot" >&2; exit 1; }
busybox=$(command -v busybox) || { echo "no busybox on this node" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/lib/modules" "$work/proc" "$work/sys" "$work/dev" "$work/tmp"
cp "$busybox" "$work/bin/busybox"
# A dynamically linked busybox takes its libraries along.
for lib in $(ldd "$busybox" 2>/dev/null | grep -o '/[^ )]*'); do
    mkdir -p "$work$(dirname "$lib")"
    cp -L "$lib" "$work$lib"
done
# The virtio drivers (and what they need), in load order; built-in ones are skipped.
: > "$work/lib/modules/order"
for module in virtio_pci virtio_net virtio_blk; do
    modprobe --set-version "$kver" --show-depends "$module" 2>/dev/null | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r path; do
    name=$(basename "$path" | sed 's/\.ko.*$//')
    case "$path" in
        *.xz) { xz -dc "$path" 2>/dev/null || busybox xz -dc "$path"; } > "$work/lib/modules/$name.ko" ;;
        *.zst) zstd -qdc "$path" > "$work/lib/modules/$name.ko" ;;
        *.gz) gzip -dc "$path" > "$work/lib/modules/$name.ko" ;;
        *) cp "$path" "$work/lib/modules/$name.ko" ;;
    esac
    echo "$name" >> "$work/lib/modules/order"
done
cp "$(dirname "$0")/init.sh" "$work/init"
chmod 755 "$work/init"
mkdir -p "$out"
(cd "$work" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$out/initrd.img.new"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz.new"
chmod 644 "$out/initrd.img.new" "$out/vmlinuz.new"
mv -f "$out/initrd.img.new" "$out/initrd.img"
mv -f "$out/vmlinuz.new" "$out/vmlinuz"
echo "kernel $kver"
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "accel kvm"; else echo "accel tcg"; fi
