# The Lifeboat netboot system (`nixosModules.netboot`): nixpkgs' minimal netboot environment (the
# whole system in the initrd: no root device needed) plus the same rescue system as the ISO
# (./rescue.nix) and the carry-over of ./carry.nix. packages.netboot is its kernel, initrd and iPXE
# script; packages.kexec boots the same kernel and initrd from a running Linux.
#
# Settings go on the kernel command line: nixpkgs' netboot.ipxe ends in `${cmdline}`, so an iPXE
# menu or a chain script can `set cmdline lifeboat.automount=readonly lifeboat.token=…` first.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  inherit (lib.importJSON ../package.json) version;
  build = config.system.build;
in
{
  imports = [
    "${modulesPath}/installer/netboot/netboot-minimal.nix"
    ./rescue.nix
    ./carry.nix
  ];

  # kernel, initrd and the iPXE script in one directory, as a TFTP/HTTP server serves them.
  system.build.lifeboatNetboot = pkgs.linkFarm "lifeboat-netboot-${version}" [
    {
      name = config.system.boot.loader.kernelFile;
      path = "${build.kernel}/${config.system.boot.loader.kernelFile}";
    }
    {
      name = "initrd";
      path = "${build.netbootRamdisk}/initrd";
    }
    {
      name = "netboot.ipxe";
      path = "${build.netbootIpxeScript}/netboot.ipxe";
    }
  ];
}
