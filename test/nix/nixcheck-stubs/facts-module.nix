# Turns the recorded facts about nixpkgs' NixOS modules (../nixpkgs-facts/nixos-25.11.json, staged as
# fake-nixpkgs/nixos/lifeboat-facts.json) into stub modules for the offline evaluation.
#
#   import ./lifeboat-facts-module.nix "nixos/modules/profiles/base.nix"
#     -> the stub of that nixpkgs file: its recorded imports, its definitions at their recorded
#        priorities (lib.mkOverride p v, so mkDefault/plain/mkForce/mkImageMediaOverride clash or win
#        exactly as the real definitions do) and its recorded assertions.
#   import ./lifeboat-facts-module.nix { declarations = true; }
#     -> one module per recorded declaration the shared nixcheck stubs lack, with the real type.
#
# Staged by test/nix/flake.test.ts: every file named in the facts gets a one-line stub at its nixpkgs
# path that imports this, so `"${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix"` and the
# error messages ("In `…/nixos/modules/profiles/base.nix'") name the real files.
# This file is written for the project; it contains no nixpkgs code (the behaviour it describes is
# cited per fact in the JSON).
what:
let
  facts = builtins.fromJSON (builtins.readFile ../lifeboat-facts.json);
  stubPath = file: ../.. + "/${file}";

  typeOf =
    lib: t:
    let
      inherit (lib) types;
      named = {
        bool = types.bool;
        str = types.str;
        lines = types.lines;
        int = types.int;
        port = types.port;
        path = types.path;
        package = types.package;
        raw = types.raw;
        unspecified = types.unspecified;
      };
    in
    if builtins.isString t then
      named.${t} or (throw "facts-module: unknown type name ${t}")
    else if t ? nullOr then
      types.nullOr (typeOf lib t.nullOr)
    else if t ? listOf then
      types.listOf (typeOf lib t.listOf)
    else if t ? attrsOf then
      types.attrsOf (typeOf lib t.attrsOf)
    else if t ? either then
      types.either (typeOf lib (builtins.elemAt t.either 0)) (typeOf lib (builtins.elemAt t.either 1))
    else
      throw "facts-module: unknown type ${builtins.toJSON t}";

  # Declarations whose default the facts can only describe (they depend on other options).
  computedDefaults = config: {
    "image.fileName" = "${config.image.baseName}.${config.image.extension}";
    "isoImage.volumeID" = "nixos${
      if config.isoImage.edition != "" then "-${config.isoImage.edition}" else ""
    }-25.11-x86_64";
    "boot.swraid.enable" = builtins.compareVersions config.system.stateVersion "23.11" < 0;
  };

  # The recorded assertions, as predicates over the evaluated configuration; messages are the
  # recorded texts with @name@ placeholders filled in.
  assertionsFor =
    {
      lib,
      config,
      pkgs,
    }:
    let
      hostId = config.networking.hostId;
      isHex = s: builtins.match "[0-9a-fA-F]*" s != null;
      volumeID = config.isoImage.volumeID or "";
      len = builtins.stringLength volumeID;
      zfsOn = config.boot.supportedFilesystems.zfs or false;
      kernel = config.boot.kernelPackages.kernel;
      zfsModule = config.boot.kernelPackages.${config.boot.zfs.package.kernelModuleAttribute or "zfs_2_3"} or null;
      fill =
        id: vars:
        builtins.replaceStrings (map (n: "@${n}@") (builtins.attrNames vars)) (builtins.attrValues vars)
          facts.assertions.${id}.message;
    in
    {
      iso-bios-boot-x86-only = {
        assertion = (config.isoImage.makeBiosBootable or false) -> pkgs.stdenv.hostPlatform.isx86;
        message = fill "iso-bios-boot-x86-only" { };
      };
      iso-volume-id-length = {
        assertion = len <= 32;
        message = fill "iso-volume-id-length" {
          inherit volumeID;
          length = toString len;
          toomany = toString (len - 32);
        };
      };
      host-id-format = {
        assertion = hostId == null || (builtins.stringLength hostId == 8 && isHex hostId);
        message = fill "host-id-format" { };
      };
      zfs-force-import-all-needs-root = {
        assertion = !config.boot.zfs.forceImportAll || config.boot.zfs.forceImportRoot;
        message = fill "zfs-force-import-all-needs-root" { };
      };
      root-file-system = {
        assertion =
          !config.boot.initrd.enable || lib.any (fs: fs.mountPoint == "/") (lib.attrValues config.fileSystems);
        message = fill "root-file-system" { };
      };
      # one assertion per scripted-stage-1 hook the project sets
      systemd-initrd-scripted-hook =
        map
          (name: {
            assertion = !config.boot.initrd.systemd.enable || config.boot.initrd.${name} == "";
            message = fill "systemd-initrd-scripted-hook" { inherit name; };
          })
          [
            "preLVMCommands"
            "postMountCommands"
          ];
      grub-devices = {
        assertion = !config.boot.loader.grub.enable || config.boot.loader.grub.mirroredBoots != [ ];
        message = fill "grub-devices" { };
      };
      zfs-kernel-compatible = {
        assertion = !zfsOn || (zfsModule != null && !(zfsModule.meta.broken or false));
        message = fill "zfs-kernel-compatible" {
          zfsVersion = config.boot.zfs.package.version or "?";
          kernelVersion = kernel.version or "?";
          zfsKernelOlder = facts.packages."zfs_2_3.kernelOlder".value;
        };
      };
    };

  # Conditions some definitions carry in the real module (mkIf …).
  conditionsFor =
    {
      lib,
      config,
      pkgs,
    }:
    let
      nm = config.networking.networkmanager;
    in
    {
      always = true;
      zfs-available = lib.meta.availableOn pkgs.stdenv.hostPlatform config.boot.zfs.package;
      networkmanager-enabled = nm.enable;
      # networkmanager.nix: delegateWireless = wireless.enable && unmanaged != [ ]
      networkmanager-owns-dhcp = nm.enable && !(config.networking.wireless.enable && nm.unmanaged != [ ]);
    };

  # What some stubbed files contribute that is not a plain definition (kept minimal).
  extrasFor =
    file:
    {
      "nixos/modules/installer/cd-dvd/iso-image.nix" =
        { config, pkgs, ... }:
        {
          system.build.isoImage = pkgs.nixcheckStub "${config.image.baseName}.iso" { };
        };
      # netboot.nix's system.build outputs (make-squashfs, makeInitrdNG, the iPXE script, kexec tree).
      "nixos/modules/installer/netboot/netboot.nix" =
        { config, pkgs, ... }:
        {
          system.build = {
            squashfsStore = pkgs.nixcheckStub "squashfs.img" { };
            netbootRamdisk = pkgs.nixcheckStub "initrd" { };
            netbootIpxeScript = pkgs.nixcheckStub "netboot.ipxe" {
              text = "#!ipxe\nkernel bzImage init=${config.system.build.toplevel}/init initrd=initrd ${toString config.boot.kernelParams} \${cmdline}\ninitrd initrd\nboot\n";
            };
            kexecScript = pkgs.nixcheckStub "kexec-boot" { };
            kexecTree = pkgs.nixcheckStub "kexec-tree" { };
          };
        };
      # swraid.nix: the mdadm.conf of stage 2 (and of the initrd) is boot.swraid.mdadmConf, appended.
      "nixos/modules/tasks/swraid.nix" =
        { config, lib, ... }:
        {
          environment.etc = lib.mkIf config.boot.swraid.enable {
            "mdadm.conf".text = lib.mkAfter config.boot.swraid.mdadmConf;
          };
        };
      # grub.nix: devices from device, mirroredBoots from devices; extraFiles are installed under
      # boot.loader.efi.efiSysMountPoint (extraPrepareConfig). nixcheckBootFiles (stub only) says
      # where each file lands, for stub-check.nix.
      "nixos/modules/system/boot/loader/grub/grub.nix" =
        { config, lib, ... }:
        let
          cfg = config.boot.loader.grub;
          efi = config.boot.loader.efi;
        in
        {
          config = lib.mkIf cfg.enable {
            boot.loader.grub.devices = lib.mkIf (cfg.device != "") [ cfg.device ];
            boot.loader.grub.mirroredBoots = lib.mkIf (cfg.devices != [ ]) [
              {
                path = "/boot";
                inherit (cfg) devices;
                inherit (efi) efiSysMountPoint;
              }
            ];
            system.build.nixcheckBootFiles = lib.mapAttrs (n: _: "${efi.efiSysMountPoint}/${n}") cfg.extraFiles;
          };
        };
      # systemd-boot.nix: extraFiles and extraEntries are installed under bootMountPoint
      # (xbootldrMountPoint when set, else efiSysMountPoint).
      "nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix" =
        { config, lib, ... }:
        let
          cfg = config.boot.loader.systemd-boot;
          bootMountPoint =
            if cfg.xbootldrMountPoint != null then cfg.xbootldrMountPoint else config.boot.loader.efi.efiSysMountPoint;
        in
        {
          config = lib.mkIf cfg.enable {
            system.build.nixcheckBootFiles =
              lib.mapAttrs (n: _: "${bootMountPoint}/${n}") cfg.extraFiles
              // lib.mapAttrs' (
                n: _: lib.nameValuePair "loader/entries/${n}" "${bootMountPoint}/loader/entries/${n}"
              ) cfg.extraEntries;
          };
        };
      # kernel.nix: system.build.kernel.
      "nixos/modules/system/boot/kernel.nix" =
        { config, ... }:
        {
          system.build.kernel = config.boot.kernelPackages.kernel;
        };
      # zfs.nix puts the kernel module of boot.zfs.package into boot.extraModulePackages; its
      # meta.broken is what fails evaluation for a kernel ZFS does not support.
      "nixos/modules/tasks/filesystems/zfs.nix" =
        { config, lib, ... }:
        let
          attr = config.boot.zfs.package.kernelModuleAttribute or null;
        in
        {
          boot.extraModulePackages = lib.mkIf (
            (config.boot.supportedFilesystems.zfs or false)
            && attr != null
            && config.boot.kernelPackages ? ${attr}
          ) [ config.boot.kernelPackages.${attr} ];
        };
    }
    .${file} or { };

  fileModule =
    file:
    let
      m = facts.modules.${file} or (throw "facts-module: no facts for ${file}");
    in
    {
      lib,
      config,
      pkgs,
      ...
    }@args:
    let
      when = conditionsFor { inherit lib config pkgs; };
      asserts = assertionsFor { inherit lib config pkgs; };
      define =
        d:
        lib.mkIf (when.${d.when or "always"}) (
          lib.setAttrByPath d.option (lib.mkOverride d.priority d.value)
        );
    in
    {
      imports = map stubPath m.imports ++ [ (extrasFor file) ];
      config = lib.mkMerge (
        map define m.definitions
        ++ [ { assertions = lib.flatten (map (id: asserts.${id}) (m.assertions or [ ])); } ]
      );
    };

  declarationModules = map (
    d:
    { lib, config, ... }:
    let
      key = builtins.concatStringsSep "." d.option;
      computed = computedDefaults config;
    in
    {
      _file = "<nixpkgs>/${d.file}";
      options = lib.setAttrByPath d.option (
        lib.mkOption {
          type = typeOf lib d.type;
          default = computed.${key} or d.default;
          description = "Stub of ${key} (facts: ${d.file}).";
        }
      );
    }
  ) (builtins.filter (d: !(d ? stub)) facts.declarations);
in
if what == { declarations = true; } then
  { imports = declarationModules ++ map stubPath facts.baseModules; }
else
  fileModule what
