# Everything Lifeboat adds to a NixOS live system, without the image itself: image.nix puts this on
# the ISO, tests/iso-boots.nix boots it in a VM.
{ lib, ... }:
{
  imports = [
    ./service.nix
    ./zfs.nix
    ./storage-stacks.nix
    ./network.nix
    ./console.nix
    ./ssh.nix
  ];

  services.lifeboat = {
    enable = true;
    # Read-only first: detecting and mounting must not change the pool; writing is a deliberate
    # step (the API remounts, or boot with lifeboat.automount=readwrite).
    autoMount = lib.mkDefault "readonly";
    openFirewall = lib.mkDefault true;
  };

  # No manuals on any rescue system: the installer profile (ISO, and netboot/kexec through
  # netboot-base.nix) turns them on with mkImageMediaOverride (priority 60), netboot-minimal.nix
  # man pages at mkOverride 500, so only mkForce turns them off. On netboot and kexec the whole
  # system is in RAM; the NixOS manual and the man pages are size there, not rescue.
  documentation.enable = lib.mkForce false;
  documentation.man.enable = lib.mkForce false;
  documentation.nixos.enable = lib.mkForce false;
  documentation.doc.enable = lib.mkForce false;
  documentation.info.enable = lib.mkForce false;

  # No redistributable firmware (netboot-minimal.nix sets it false at mkOverride 70): linux-firmware
  # is hundreds of MiB, and netboot/kexec hold everything in RAM. A server whose NIC needs firmware
  # stays unreachable over the network after kexec; set
  # `hardware.enableRedistributableFirmware = lib.mkForce true` in a module of your own for it.
}
