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
}
