# services.lifeboat.rescueEntry (part of nixosModules.default): a "Lifeboat rescue" boot entry on the
# server's own ESP, next to its generations, with the kernel and initrd of ./esp.nix (the rescue
# system, whole in the initrd). The boot loader installation copies the files at every
# switch-to-configuration, so the entry follows the server's nixpkgs. `lifeboat rescue-reboot` on the
# server reboots into it once (systemd-boot's one-shot entry, or grub-reboot), carrying over the
# network configuration, root's SSH keys and a fresh token (./carry.nix, ./rescue-entry/reboot.sh).
#
# Where the files go is where nixpkgs' boot loader installation copies extraFiles: systemd-boot under
# its bootMountPoint (xbootldrMountPoint when set, else the ESP: systemd-boot.nix), GRUB under
# boot.loader.efi.efiSysMountPoint (grub.nix's extraPrepareConfig; /boot unless set, also without
# EFI). test/nix/nixpkgs-facts records both.
#
# Size: the rescue kernel + initrd must fit next to the generations on the ESP. The room is derived,
# not guessed: espSizeMiB − configurationLimit × generationMiB, checked at evaluation (there must be
# some); the build measures what the entry really holds and fails with that size when it does not fit
# the room (or budgetMiB, when set).
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
  xbootldr = loader.systemd-boot.xbootldrMountPoint;
  # The directory under which the boot loader installation puts extraFiles (and systemd-boot its
  # extraEntries).
  filesRoot = if sdboot && xbootldr != null then xbootldr else esp;

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
        passthru = {
          inherit
            rescue
            cmdline
            entryFile
            carryFile
            ;
        };
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
        echo "Lifeboat rescue entry: $used MiB (room: ${toString allowedMiB} MiB)"
        if [ "$used" -gt ${toString allowedMiB} ]; then
          fit=$(( (${toString cfg.espSizeMiB} - used) / ${toString cfg.generationMiB} ))
          echo "services.lifeboat.rescueEntry: the rescue kernel, initrd and carry archive take $used MiB; ${roomText}. ${
            if cfg.budgetMiB != null then
              "Raise budgetMiB or unset it; "
            else
              ""
          }with this entry the ${toString cfg.espSizeMiB} MiB ESP holds $(( fit < 0 ? 0 : fit )) generations of ${toString cfg.generationMiB} MiB (configurationLimit), or give it more room (espSizeMiB)." >&2
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
  generationsMiB = if limit == null then 0 else limit * cfg.generationMiB;
  # What the ESP leaves for the entry after the generations the boot loader keeps.
  roomMiB = cfg.espSizeMiB - generationsMiB;
  allowedMiB = if cfg.budgetMiB == null then roomMiB else lib.min cfg.budgetMiB roomMiB;
  roomText = "the ${toString cfg.espSizeMiB} MiB ESP leaves ${toString roomMiB} MiB after ${toString limit} generations × ${toString cfg.generationMiB} MiB${
    lib.optionalString (cfg.budgetMiB != null) " (budgetMiB = ${toString cfg.budgetMiB})"
  }";

  # Where `lifeboat rescue-reboot` finds the installed entry and the carry archive.
  entryFile =
    if sdboot then "${filesRoot}/loader/entries/${sdbootEntry}" else "${filesRoot}/${grubDir}/${kernelFile}";
  carryFile = "${filesRoot}/${if sdboot then sdbootDir else grubDir}/carry.cpio";

  # GRUB reads the files from the partition holding efiSysMountPoint: their path there is
  # efiSysMountPoint relative to the nearest mount point of fileSystems.
  grubPath =
    let
      mounts = lib.filter (m: m == "/" || m == esp || lib.hasPrefix "${m}/" esp) (
        map (fs: fs.mountPoint) (lib.attrValues config.fileSystems)
      );
      mount = lib.foldl' (a: b: if lib.stringLength b > lib.stringLength a then b else a) "/" mounts;
      rel = if mount == "/" then esp else lib.removePrefix mount esp;
    in
    "${rel}/${grubDir}";

  command = pkgs.writeShellApplication {
    name = "lifeboat";
    runtimeInputs = [
      pkgs.coreutils
      pkgs.iproute2
      pkgs.gnugrep
      pkgs.gawk
      pkgs.systemd
      pkgs.util-linux # findmnt
    ]
    ++ lib.optional grub pkgs.grub2; # grub-reboot
    text = ''
      if [ "''${1:-}" = rescue-reboot ]; then
        shift
        export LIFEBOAT_LOADER=${if sdboot then "systemd-boot" else "grub"}
        export LIFEBOAT_ENTRY_ID=${if sdboot then sdbootEntry else grubId}
        export LIFEBOAT_ENTRY_FILE=${entryFile}
        export LIFEBOAT_CARRY_FILE=${carryFile}
        export LIFEBOAT_CARRY_LIB=${./carry/lib.sh}
        # grub.nix's boot path is /boot: grub.cfg and grubenv are in /boot/grub
        export LIFEBOAT_GRUBENV=/boot/grub/grubenv
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
      type = types.nullOr types.ints.positive;
      default = null;
      description = ''
        Most space the rescue kernel and initrd may take on the ESP. `null` (the default): what the
        ESP leaves after the generations the boot loader keeps ({option}`espSizeMiB` −
        `configurationLimit` × {option}`generationMiB`). The build measures the entry and fails,
        giving its size, when it is larger; evaluation fails when the generations alone fill the
        ESP, or this budget does not fit next to them.
      '';
    };

    espSizeMiB = mkOption {
      type = types.ints.positive;
      default = 512;
      description = "Size of the partition the entry goes to (the ESP; the XBOOTLDR partition with systemd-boot's xbootldrMountPoint; the one holding /boot for GRUB without EFI), the NixOS manual's 512 MiB by default.";
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
    # What the entry puts on the ESP (with size-mib; passthru: the rescue system, its cmdline and where
    # the installed files are).
    system.build.lifeboatRescueEntry = files;

    assertions = [
      {
        assertion = sdboot || grub;
        message = "services.lifeboat.rescueEntry needs systemd-boot or GRUB (boot.loader.systemd-boot.enable or boot.loader.grub.enable).";
      }
      {
        # (without a boot loader the assertion above says all there is to say)
        assertion =
          !(sdboot || grub)
          || (limit != null && allowedMiB > 0 && (cfg.budgetMiB == null || cfg.budgetMiB <= roomMiB));
        message =
          let
            opt = "boot.loader.${if sdboot then "systemd-boot" else "grub"}.configurationLimit";
          in
          if limit == null then
            "services.lifeboat.rescueEntry: the boot loader keeps every generation (configurationLimit = null), so the rescue entry may not fit the ${toString cfg.espSizeMiB} MiB ESP; set ${opt}."
          else if roomMiB <= 0 then
            "services.lifeboat.rescueEntry: ${toString limit} generations × ${toString cfg.generationMiB} MiB = ${toString generationsMiB} MiB leave no room for the rescue entry on the ${toString cfg.espSizeMiB} MiB ESP; lower ${opt} (the entry's size is measured when it is built) or raise espSizeMiB if the ESP is larger."
          else
            "services.lifeboat.rescueEntry: budgetMiB = ${toString cfg.budgetMiB} does not fit: ${roomText}; lower ${opt} or budgetMiB.";
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
      # grub.nix installs extraFiles under efiSysMountPoint: the files are on the partition holding it.
      extraEntries = ''
        menuentry "Lifeboat rescue ${version}" --id ${grubId} {
          search --no-floppy --set=root --file ${grubPath}/carry.cpio
          linux ${grubPath}/${kernelFile} ${cmdline}
          initrd ${grubPath}/initrd ${grubPath}/carry.cpio
        }
      '';
    };

    # `lifeboat rescue-reboot`; every other subcommand goes to the agent (client, banner, …).
    environment.systemPackages = [ (lib.hiPrio command) ];

    # The carry-over holds a token: after a normal boot, empty it again.
    systemd.services.lifeboat-rescue-carry-reset = {
      description = "Empty the Lifeboat rescue entry's carry-over archive";
      wantedBy = [ "multi-user.target" ];
      unitConfig.RequiresMountsFor = filesRoot;
      serviceConfig.Type = "oneshot";
      script = ''
        f=${carryFile}
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
