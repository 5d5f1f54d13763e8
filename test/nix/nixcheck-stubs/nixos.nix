# NixOS option declarations Lifeboat sets that ../shared/nixcheck's stubs lack, with the names and
# types of nixos-25.11 (services/networking/avahi-daemon.nix, virtualisation/qemu-vm.nix). Only
# declarations: what these modules do with the values is not modelled.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  bool = default: mkOption { type = types.bool; inherit default; };
in
{
  options = {
    services.avahi = {
      enable = bool false;
      hostName = mkOption {
        type = types.str;
        default = config.networking.hostName;
      };
      domainName = mkOption {
        type = types.str;
        default = "local";
      };
      ipv4 = bool true;
      ipv6 = bool true;
      allowInterfaces = mkOption {
        type = types.nullOr (types.listOf types.str);
        default = null;
      };
      openFirewall = bool true;
      extraServiceFiles = mkOption {
        type = types.attrsOf (types.either types.str types.path);
        default = { };
      };
      publish = {
        enable = bool false;
        userServices = bool false;
        addresses = bool false;
        hinfo = bool false;
        workstation = bool false;
        domain = bool false;
      };
      nssmdns4 = bool false;
      nssmdns6 = bool false;
    };

    # Only exist in NixOS test nodes (qemu-vm.nix).
    virtualisation = {
      diskImage = mkOption {
        type = types.nullOr types.str;
        default = "./nixos.qcow2";
      };
      emptyDiskImages = mkOption {
        type = types.listOf types.ints.positive;
        default = [ ];
      };
      memorySize = mkOption {
        type = types.ints.positive;
        default = 1024;
      };
      cores = mkOption {
        type = types.ints.positive;
        default = 1;
      };
    };
  };
}
