#!/bin/bash
# PID 1 of the Lifeboat rescue test guest (installed as /sbin/lifeboat-vm-init by build.sh).
# Plays the rescue ISO's boot: devices, udev, zfs, network; then the "service": the agent command the
# host left in /lab/agent.sh (run like a systemd unit would, output appended to /host/logs/agent.log),
# and the lab's control server (/lab/ctl.mjs on :8081) that runs shell commands for the test harness.
# Kernel command line knobs: lbvm.hostid=HEX (act as another machine), lbvm.hostname=NAME.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
say() { echo "lifeboat-vm: $*" >/dev/console; }
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /mnt /host /lab
mount -t devpts devpts /dev/pts; mount -t tmpfs -o mode=755 run /run; mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs shm /dev/shm; mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
name=rescue
for a in $(cat /proc/cmdline); do
  case $a in
    lbvm.hostid=*) zgenhostid -f "${a#*=}" ;;
    lbvm.hostname=*) name=${a#*=} ;;
  esac
done
hostname "$name"
# a fresh machine-id per boot (as on a live ISO), which journald needs
systemd-machine-id-setup >/dev/null 2>&1 || cat /proc/sys/kernel/random/uuid | tr -d - >/etc/machine-id
# journald (volatile, /run/log/journal) so `logger` / other tools log somewhere real
mkdir -p /run/systemd/journal; ln -sfn /run/systemd/journal/dev-log /dev/log
/lib/systemd/systemd-journald >/dev/null 2>&1 &
# under TCG every module load costs; keep udev from loading what a rescue VM never uses
for m in kvm kvm_amd kvm_intel irqbypass ccp floppy psmouse pcspkr serio_raw evdev i2c_piix4 \
         ata_piix ata_generic libata button qemu_fw_cfg joydev; do
  echo "install $m /bin/true"; done >/etc/modprobe.d/lifeboat-vm.conf
modprobe -a zfs 9p 9pnet_virtio virtio_net & MODS=$!     # the slow one (zfs), in parallel with coldplug
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
udevadm trigger --type=subsystems --action=add; udevadm trigger --type=devices --action=add
udevadm settle -t 60
say "udev settled uptime=$(up)"
wait $MODS
say "modules loaded uptime=$(up)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none host /host || say "no /host share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none lab /lab || say "no /lab share"
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
udevadm settle -t 30
if [ -s /lab/agent.sh ]; then
  mkdir -p /host/logs
  up >/lab/agent.started
  setsid bash /lab/agent.sh </dev/null >>/host/logs/agent.log 2>&1 &
  echo $! >/run/agent.pid
fi
say "READY uptime=$(up) hostid=$(hostid) hostname=$(hostname) zfs=$(cat /sys/module/zfs/version 2>/dev/null)"
if [ -s /lab/ctl.mjs ]; then
  node /lab/ctl.mjs >>/lab/ctl.log 2>&1
  say "control server ended (rc=$?)"
else
  say "no /lab/ctl.mjs: interactive shell on ttyS0"
  setsid -c bash -l <>/dev/ttyS0 >&0 2>&1
fi
# power off: flush everything but do NOT export pools (a crashed server keeps them "in use")
cd /; sync; zpool sync 2>/dev/null; sync
say "POWEROFF uptime=$(up)"
echo o >/proc/sysrq-trigger
sleep 30
