# md RAID and LVM on the rescue system: found, never assembled or activated behind the agent's back.
#
# The disks are the installed system's, and detection must not write one block to them. Stock NixOS
# would: the installer profile sets `boot.swraid.enable = true` (nixpkgs
# nixos/modules/profiles/installation-device.nix), which puts mdadm's udev rules into stage 1 and
# stage 2 (nixos/modules/tasks/swraid.nix): every md member that appears is assembled incrementally,
# read-write (superblock event counts, resync or recovery of a dirty or degraded array). LVM is on
# everywhere (`services.lvm.enable` defaults to true, nixos/modules/tasks/lvm.nix): lvm2's udev rules
# autoactivate every complete VG in stage 2 (`vgchange -aay --autoactivation event`), and the scripted
# stage 1 runs `lvm vgchange -ay` on every VG it sees (nixos/modules/system/boot/stage-1-init.sh;
# lvm.nix copies lvm into every scripted initrd). An active LV can write without anyone mounting it:
# a pending snapshot merge starts, a RAID LV resyncs, thin-pool and cache metadata are updated.
#
# Here nothing assembles or activates by itself; the agent does it read-only (mdadm --assemble
# --readonly, LVs activated read-only with metadata_read_only) and switches exactly what a request
# needs to read-write. The facts this relies on are recorded in test/nix/nixpkgs-facts and checked
# offline by test/nix/eval-check.nix (testStorageStacksStayPut).
{ config, lib, ... }:
{
  boot.kernelParams = [
    # md_mod's `start_ro` (Documentation/admin-guide/md.rst): every array starts "auto-read-only";
    # until its first write request md writes nothing to any member, no resync and no recovery.
    # It is a module parameter, so it holds in stage 1 as in stage 2, for arrays that anything
    # starts (a human at the console included).
    "md_mod.start_ro=1"
    # md.rst "Boot time autodetection of RAID arrays": only for md built into the kernel with 0.90
    # superblocks on partitions of type 0xfd; off, whatever the kernel configuration.
    "raid=noautodetect"
  ];

  # mdadm.conf(5) AUTO: "-all" = no auto-assembly, neither `mdadm --incremental` (what the udev rules
  # run as members appear) nor `mdadm --assemble --scan`; an explicit assembly of one array by UUID
  # with its members named (what the agent runs) is not auto-assembly. A lines option: this joins the
  # installer's own line (its PROGRAM stub for mdmon). swraid.nix writes it to /etc/mdadm.conf of
  # stage 2 and of the initrd; without boot.swraid.enable (the rescue entry) there are no mdadm udev
  # rules and the line is inert.
  boot.swraid.mdadmConf = "AUTO -all";

  # lvm.conf(5) activation/auto_activation_volume_list: "defined and empty" = no LV is autoactivated
  # by `-aay` (the udev rule's `vgchange -aay --autoactivation event`, and lvm2-activation-generator's
  # services if event activation were off). lvm.nix starts /etc/lvm/lvm.conf with "config {}" and its
  # other writers use the same `section/key = value` form; the option is `lines`, so this is appended.
  # Not metadata_read_only here: a human repairing LVM at the console may need to write metadata; the
  # agent passes its own read-only configuration on every command.
  environment.etc."lvm/lvm.conf".text = "activation/auto_activation_volume_list = [ ]";

  # The scripted stage 1 runs `lvm vgchange -ay` (not -aay: the list above would not stop it) right
  # after these commands, and again while waiting for a missing device. activation/volume_list
  # "defined and empty" = no LV is activated at all. The initrd's lvm reads /etc/lvm/lvm.conf (lvm.nix
  # appends its own settings there the same way). The rescue systems boot from squashfs/RAM, never
  # from an LV, so nothing of theirs needs activating. A systemd stage 1 has no LVM unless
  # boot.initrd.services.lvm.enable (no Lifeboat image sets it) and refuses preLVMCommands
  # (systemd/initrd.nix asserts it is empty), hence the condition.
  boot.initrd.preLVMCommands = lib.mkIf (!config.boot.initrd.systemd.enable) ''
    mkdir -p /etc/lvm
    cat >>/etc/lvm/lvm.conf <<'LIFEBOAT_LVM'
    activation/volume_list = [ ]
    activation/auto_activation_volume_list = [ ]
    LIFEBOAT_LVM
  '';
}
