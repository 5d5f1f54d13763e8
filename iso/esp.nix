# The rescue system as it lives on a server's own ESP (services.lifeboat.rescueEntry): nixpkgs'
# netboot.nix (the whole system in the initrd, no root device) with profiles/minimal.nix instead of
# the installer profiles, so that kernel + initrd fit next to the server's generations; the same
# ./rescue.nix as every image, and ./carry.nix for what `lifeboat rescue-reboot` hands over.
{
  lib,
  modulesPath,
  ...
}:
{
  imports = [
    "${modulesPath}/installer/netboot/netboot.nix"
    "${modulesPath}/profiles/minimal.nix"
    ./rescue.nix
    ./carry.nix
  ];

  # DHCP on every wired link, and the carried-over static configuration as keyfiles (./carry.nix).
  networking.networkmanager.enable = true;
  # Console login at the machine; SSH only with the keys `lifeboat rescue-reboot` carried over
  # (sshd refuses empty passwords).
  users.users.root.initialHashedPassword = lib.mkDefault "";
  services.getty.autologinUser = lib.mkDefault "root";
  system.stateVersion = lib.mkDefault "25.11";
}
