# services.lifeboat.rescueEntry (part of nixosModules.default): a "Lifeboat rescue" boot entry on the
# server's own ESP, next to its generations, with the kernel and initrd of ./esp.nix (the rescue
# system, whole in the initrd). The boot loader installation copies the files at every
# switch-to-configuration, so the entry follows the server's nixpkgs. `lifeboat rescue-reboot` on the
# server reboots into it once (systemd-boot's one-shot entry, or grub-reboot), carrying over the
# network configuration, root's SSH keys and a fresh token (./carry.nix, ./rescue-entry/reboot.sh).
#
# Size: the rescue kernel + initrd must fit next to the generations on the ESP. The budget is
# stated here (budgetMiB) and checked twice: at evaluation, budget + configurationLimit × the space
# one generation takes must fit the ESP; at build, the files must fit the budget (the build fails).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.lifeboat.rescueEntry;
  inherit (lib.importJSON ../package.json) version;
  loader = config.boot.loader;
  sdboot = loader.systemd-boot.enable;
  grub = loader.grub.enable;
  esp = loader.efi.efiSysMountPoint;

  # The rescue system, evaluated with this server's nixpkgs (like nixos-install evaluates a target).
  rescue =
    (import "${modulesPath}/../lib/eval-config.nix" {
      inherit lib;
      system = null;
      modules = [
        ./esp.nix
        { nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system; }
      ]
      ++ cfg.extraModules;
    }).config;
  kernelFile = rescue.system.boot.loader.kernelFile;
  cmdline = "init=${rescue.system.build.toplevel}/init ${toString (rescue.boot.kernelParams ++ cfg.kernelParams)}";

  # An archive with only the trailer: what the entry loads when `lifeboat rescue-reboot` did not
  # put a carry-over there (booted from the menu, or after the next normal boot emptied it).
  emptyCarry = pkgs.runCommand "lifeboat-carry-empty.cpio" { } ''
    . ${./carry/lib.sh}
    mkdir empty
    carry_cpio empty >$out
  '';

  # kernel, initrd and the empty carry-over, refused at build time when larger than the budget.
  files =
    pkgs.runCommand "lifeboat-rescue-entry-${version}"
      {
        passthru = { inherit rescue cmdline; };
      }
      ''
        mkdir $out
        cp ${rescue.system.build.kernel}/${kernelFile} $out/${kernelFile}
        cp ${rescue.system.build.netbootRamdisk}/initrd $out/initrd
        # systemd-boot loads the entry's initrds back to back without padding; the kernel finds the
        # uncompressed carry archive only at a 4-byte-aligned offset (init/initramfs.c), so the
        # initrd ends on one (zero bytes, which the kernel skips). GRUB pads by itself.
        chmod u+w $out/initrd
        truncate --size=%4 $out/initrd
        cp ${emptyCarry} $out/carry.cpio
        used=$(du -m --apparent-size -c $out/* | tail -1 | cut -f1)
        echo "Lifeboat rescue entry: $used MiB (budget ${toString cfg.budgetMiB} MiB)"
        if [ "$used" -gt ${toString cfg.budgetMiB} ]; then
          echo "the rescue kernel and initrd take $used MiB, more than services.lifeboat.rescueEntry.budgetMiB = ${toString cfg.budgetMiB}" >&2
          exit 1
        fi
        echo "$used" >$out/size-mib
      '';

  # systemd-boot: loader/entries/<id>, files under EFI/lifeboat; GRUB: files under lifeboat/.
  sdbootDir = "efi/lifeboat";
  sdbootEntry = "lifeboat-rescue.conf";
  grubDir = "lifeboat";
  grubId = "lifeboat-rescue";

  limit = if sdboot then loader.systemd-boot.configurationLimit else loader.grub.configurationLimit;
  needMiB = cfg.budgetMiB + (if limit == null then 0 else limit * cfg.generationMiB);

  command = pkgs.writeShellApplication {
    name = "lifeboat";
    runtimeInputs = [
      pkgs.coreutils
      pkgs.iproute2
      pkgs.gnugrep
      pkgs.gawk
      pkgs.systemd
    ]
    ++ lib.optional grub pkgs.grub2; # grub-reboot
    text = ''
      if [ "''${1:-}" = rescue-reboot ]; then
        shift
        export LIFEBOAT_LOADER=${if sdboot then "systemd-boot" else "grub"}
        export LIFEBOAT_ENTRY_ID=${if sdboot then sdbootEntry else grubId}
        export LIFEBOAT_ENTRY_FILE=${
          if sdboot then "${esp}/loader/entries/${sdbootEntry}" else "/boot/${grubDir}/${kernelFile}"
        }
        export LIFEBOAT_CARRY_FILE=${if sdboot then "${esp}/${sdbootDir}/carry.cpio" else "/boot/${grubDir}/carry.cpio"}
        export LIFEBOAT_CARRY_LIB=${./carry/lib.sh}
        exec ${pkgs.bash}/bin/bash ${./rescue-entry/reboot.sh} "$@"
      fi
      if [ "''${1:-}" = help ] || [ "''${1:-}" = --help ]; then
        echo "lifeboat rescue-reboot [--yes] [--token-file PATH]   reboot once into the Lifeboat rescue entry"
      fi
      exec ${lib.getExe config.services.lifeboat.package} "$@"
    '';
  };
in
{
  options.services.lifeboat.rescueEntry = {
    enable = lib.mkEnableOption ''
      a "Lifeboat rescue" boot entry on this server's ESP (systemd-boot or GRUB), and
      `lifeboat rescue-reboot` to reboot into it once'';

    budgetMiB = mkOption {
      type = types.ints.positive;
      default = 256;
      description = ''
        Most space the rescue kernel and initrd may take on the ESP. The build fails when they are
        larger; evaluation fails when this budget plus the generations the boot loader keeps
        (`configurationLimit` × {option}`generationMiB`) does not fit {option}`espSizeMiB`.
      '';
    };

    espSizeMiB = mkOption {
      type = types.ints.positive;
      default = 512;
      description = "Size of the ESP (or /boot for GRUB without EFI), the NixOS manual's 512 MiB by default.";
    };

    generationMiB = mkOption {
      type = types.ints.positive;
      default = 48;
      description = ''
        ESP space one generation of this server takes (its kernel and initrd; generations sharing
        both take it once).
      '';
    };

    kernelParams = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "lifeboat.automount=off" ];
      description = "Added to the rescue system's kernel command line (`lifeboat.*` settings).";
    };

    extraModules = mkOption {
      type = types.listOf types.deferredModule;
      default = [ ];
      description = "NixOS modules added to the rescue system (./esp.nix).";
    };
  };

  config = lib.mkIf cfg.enable {
    # What the entry puts on the ESP (with size-mib; passthru: the rescue system and its cmdline).
    system.build.lifeboatRescueEntry = files;

    assertions = [
      {
        assertion = sdboot || grub;
        message = "services.lifeboat.rescueEntry needs systemd-boot or GRUB (boot.loader.systemd-boot.enable or boot.loader.grub.enable).";
      }
      {
        assertion = limit != null && needMiB <= cfg.espSizeMiB;
        message =
          if limit == null then
            "services.lifeboat.rescueEntry: the boot loader keeps every generation (configurationLimit = null), so the ${toString cfg.budgetMiB} MiB rescue entry may not fit the ${toString cfg.espSizeMiB} MiB ESP; set boot.loader.${
              if sdboot then "systemd-boot" else "grub"
            }.configurationLimit (at most ${toString ((cfg.espSizeMiB - cfg.budgetMiB) / cfg.generationMiB)})."
          else
            "services.lifeboat.rescueEntry: ${toString cfg.budgetMiB} MiB for the rescue entry + ${toString limit} generations × ${toString cfg.generationMiB} MiB = ${toString needMiB} MiB, more than the ${toString cfg.espSizeMiB} MiB ESP; lower configurationLimit to ${toString ((cfg.espSizeMiB - cfg.budgetMiB) / cfg.generationMiB)} or raise espSizeMiB if the ESP is larger.";
      }
    ];

    boot.loader.systemd-boot = lib.mkIf sdboot {
      extraFiles = {
        "${sdbootDir}/${kernelFile}" = "${files}/${kernelFile}";
        "${sdbootDir}/initrd" = "${files}/initrd";
        "${sdbootDir}/carry.cpio" = "${files}/carry.cpio";
      };
      extraEntries.${sdbootEntry} = ''
        title Lifeboat rescue
        version ${version}
        sort-key zz-lifeboat
        linux /${sdbootDir}/${kernelFile}
        initrd /${sdbootDir}/initrd
        initrd /${sdbootDir}/carry.cpio
        options ${cmdline}
      '';
    };

    boot.loader.grub = lib.mkIf grub {
      extraFiles = {
        "${grubDir}/${kernelFile}" = "${files}/${kernelFile}";
        "${grubDir}/initrd" = "${files}/initrd";
        "${grubDir}/carry.cpio" = "${files}/carry.cpio";
      };
      # The files are on the partition holding /boot: at its root when /boot is a partition, under
      # /boot when it is a directory of the root file system.
      extraEntries = ''
        menuentry "Lifeboat rescue ${version}" --id ${grubId} {
          if search --no-floppy --set=root --file /${grubDir}/carry.cpio; then
            set lb=/${grubDir}
          else
            search --no-floppy --set=root --file /boot/${grubDir}/carry.cpio
            set lb=/boot/${grubDir}
          fi
          linux $lb/${kernelFile} ${cmdline}
          initrd $lb/initrd $lb/carry.cpio
        }
      '';
    };

    # `lifeboat rescue-reboot`; every other subcommand goes to the agent (client, banner, …).
    environment.systemPackages = [ (lib.hiPrio command) ];

    # The carry-over holds a token: after a normal boot, empty it again.
    systemd.services.lifeboat-rescue-carry-reset = {
      description = "Empty the Lifeboat rescue entry's carry-over archive";
      wantedBy = [ "multi-user.target" ];
      unitConfig.RequiresMountsFor = if sdboot then esp else "/boot";
      serviceConfig.Type = "oneshot";
      script = ''
        f=${if sdboot then "${esp}/${sdbootDir}/carry.cpio" else "/boot/${grubDir}/carry.cpio"}
        if [ -e "$f" ] && ! cmp -s "$f" ${emptyCarry}; then
          cp ${emptyCarry} "$f.new" && mv "$f.new" "$f"
        fi
      '';
      path = [
        pkgs.coreutils
        pkgs.diffutils
      ];
    };
  };
}
