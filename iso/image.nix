# The Lifeboat ISO (`nixosModules.iso`): nixpkgs' minimal installer plus rescue.nix.
# Build with `nix build .#iso`; the image is result/iso/lifeboat-<version>-x86_64-linux.iso.
{
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  inherit (lib.importJSON ../package.json) version;
in
{
  imports = [
    # Brings the installer's hardware support, nixos-enter and nixos-install, wpa_supplicant
    # (not started), sshd and the autologin consoles.
    "${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix"
    ./rescue.nix
  ];

  # iso-image.nix sets image.baseName to nixos-<edition>-<label>-<system> without mkDefault.
  image.baseName = lib.mkForce "lifeboat-${version}-${pkgs.stdenv.hostPlatform.system}";
  # Stage 1 finds the root by this label: it must not equal a NixOS installer's label (whatever
  # the installer profile sets), or the wrong stick may be mounted when both are plugged in.
  isoImage.volumeID = lib.mkForce "lifeboat-${version}";
  isoImage.appendToMenuLabel = " Lifeboat rescue";
}
