#!/bin/busybox sh
# kvm-cluster smoke VM: every step prints one line "SMOKE <step> <result>" on
# the serial console, the evidence the management node reads.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
arg() { sed -n "s/.*smoke\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
echo "SMOKE boot ok $(cut -d' ' -f1 /proc/uptime)"
for module in $(cat /lib/modules/order); do insmod "/lib/modules/$module.ko" 2>/dev/null; done
cat > /tmp/dhcp <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || exit 0
ifconfig "$interface" "$ip" netmask "$subnet" up
echo "SMOKE dhcp $ip" > /dev/console
SCRIPT
chmod 755 /tmp/dhcp
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 1 -s /tmp/dhcp >/dev/null 2>&1 || echo "SMOKE dhcp none"
for master in $(arg masters | tr ',' ' '); do
    answer=$(nslookup "$(arg name)" "$master" 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}')
    echo "SMOKE dns $master ${answer:-none}"
done
if ping -c 1 -W 2 "$(arg node)" >/dev/null 2>&1; then echo "SMOKE ping ok"; else echo "SMOKE ping failed"; fi
for disk in vda vdb; do
    [ -b "/dev/$disk" ] || continue
    mark="kvm-cluster-smoke-$disk-$(cut -d' ' -f1 /proc/uptime)"
    echo "$mark" | dd of="/dev/$disk" bs=512 count=1 conv=sync,fsync 2>/dev/null
    echo 3 > /proc/sys/vm/drop_caches
    if dd if="/dev/$disk" bs=512 count=1 2>/dev/null | grep -q "$mark"; then
        echo "SMOKE disk $disk ok"
    else
        echo "SMOKE disk $disk failed"
    fi
done
echo "SMOKE done"
poweroff -f
