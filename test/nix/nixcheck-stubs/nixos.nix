# NixOS option declarations Lifeboat sets that ../shared/nixcheck's stubs lack, with the names and
# types of nixos-25.11 (services/networking/avahi-daemon.nix, virtualisation/qemu-vm.nix,
# system/activation/top-level.nix, system/boot/networkd.nix, tasks/filesystems.nix,
# system/boot/loader/grub/grub.nix; avahi's, fileSystems and mirroredBoots are also in
# ../nixpkgs-facts, checked by stub-check.nix). Only declarations: what these modules do with the
# values is not modelled.
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
      # qemu-vm.nix: the test VLANs (eth1…) and QEMU user-net port forwards (checks.kexec-boots).
      vlans = mkOption {
        type = types.listOf types.ints.unsigned;
        default = [ 1 ];
      };
      forwardPorts = mkOption {
        type = types.listOf (
          types.submodule {
            options = {
              from = mkOption {
                type = types.enum [
                  "host"
                  "guest"
                ];
                default = "host";
              };
              proto = mkOption {
                type = types.enum [
                  "tcp"
                  "udp"
                ];
                default = "tcp";
              };
              host.address = mkOption {
                type = types.str;
                default = "";
              };
              host.port = mkOption { type = types.port; };
              guest.address = mkOption {
                type = types.str;
                default = "";
              };
              guest.port = mkOption { type = types.port; };
            };
          }
        );
        default = [ ];
      };
    };

    # tasks/filesystems.nix: attrsOf submodule; only the sub-options the facts and the test servers
    # set (mountPoint defaults to the attribute name, as in NixOS).
    fileSystems = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              mountPoint = mkOption {
                type = types.str;
                default = name;
              };
              device = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
              fsType = mkOption {
                type = types.str;
                default = "auto";
              };
              options = mkOption {
                type = types.listOf types.str;
                default = [ "defaults" ];
              };
              neededForBoot = bool false;
            };
          }
        )
      );
      default = { };
    };
    # system/boot/loader/grub/grub.nix: mirroredBoots (what the GRUB assertion looks at).
    boot.loader.grub.mirroredBoots = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            path = mkOption { type = types.str; };
            efiSysMountPoint = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            devices = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
          };
        }
      );
      default = [ ];
    };

    # system/activation/top-level.nix (listOf pathInStore in 25.11: store paths only).
    system.extraDependencies = mkOption {
      type = types.listOf types.pathInStore;
      default = [ ];
    };
    # tasks/network-interfaces.nix, system/boot/networkd.nix: only what checks.kexec-boots' node sets;
    # a network's many [Network]/[Route] settings are free-form here (real: typed submodules).
    networking.useNetworkd = bool false;
    systemd.network.networks = mkOption {
      type = types.attrsOf (
        types.submodule {
          freeformType = types.attrsOf types.unspecified;
          options = {
            name = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            address = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
            routes = mkOption {
              type = types.listOf (types.attrsOf types.unspecified);
              default = [ ];
            };
          };
        }
      );
      default = { };
    };
  };
}
