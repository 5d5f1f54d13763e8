# Checks of the offline evaluation world itself (run by test/nix/flake.test.ts through
# ../shared/nixcheck only, never against real nixpkgs): the stubs built from
# ./nixpkgs-facts/nixos-25.11.json behave as the facts say, so a project test that passes against
# them passes for the right reason.
{ lib, nixcheck }:
let
  facts = lib.importJSON ./nixpkgs-facts/nixos-25.11.json;

  eval =
    modules:
    nixcheck.nixosSystem {
      modules = [ { nixpkgs.hostPlatform = "x86_64-linux"; } ] ++ modules;
    };
  # nixpkgs' own minimal installer, nothing of the project.
  installer = eval [
    (
      { modulesPath, ... }:
      {
        imports = [ "${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix" ];
      }
    )
  ];

  # The modules the minimal installer chain imports, by following the recorded imports.
  chainFiles =
    let
      go =
        seen: file:
        if lib.elem file seen then seen else lib.foldl' go (seen ++ [ file ]) facts.modules.${file}.imports;
    in
    go [ ] "nixos/modules/installer/cd-dvd/installation-cd-minimal.nix" ++ facts.baseModules;

  # Definitions of the chain whose value is a scalar (lists and attribute sets merge, they cannot
  # decide a winner): the merged value must be the one at the lowest priority number.
  scalarDefs = lib.filter (d: !(builtins.isList d.value || builtins.isAttrs d.value)) (
    lib.concatMap (f: map (d: d // { file = f; }) facts.modules.${f}.definitions) chainFiles
  );
  byOption = lib.groupBy (d: lib.concatStringsSep "." d.option) scalarDefs;
  winner =
    defs:
    let
      best = lib.foldl' lib.min 10000 (map (d: d.priority) defs);
    in
    (lib.findFirst (d: d.priority == best) null defs).value;
  decidable =
    defs:
    let
      best = lib.foldl' lib.min 10000 (map (d: d.priority) defs);
    in
    lib.length (lib.unique (map (d: d.value) (lib.filter (d: d.priority == best) defs))) == 1;
  # Conditional definitions (networkmanager, zfs) only count when their condition holds in the
  # installer; both hold there (NetworkManager on, ZFS available on x86_64).
  # (by the recorded path: an attribute name may hold a dot, e.g. environment.etc."lvm/lvm.conf")
  winners = lib.filterAttrs (_: decidable) byOption;
  expectedWinners = lib.mapAttrs (_: winner) winners;

  # Servers with the rescue entry in the boot loader layouts that matter; where the recorded loader
  # facts (grub.nix, systemd-boot.nix: system.build.nixcheckBootFiles in the stubs) install its files.
  server =
    extra:
    (eval [
      ../../iso/service.nix
      {
        services.lifeboat.rescueEntry.enable = true;
        fileSystems."/".device = "rpool/root";
        boot.loader.grub.devices = lib.mkDefault [ "/dev/vda" ];
      }
      extra
    ]).config;
  layouts = {
    systemd-boot = server {
      boot.loader.grub.enable = false;
      boot.loader.systemd-boot = {
        enable = true;
        configurationLimit = 3;
      };
    };
    systemd-boot-xbootldr = server {
      boot.loader.grub.enable = false;
      boot.loader.efi.efiSysMountPoint = "/efi";
      boot.loader.systemd-boot = {
        enable = true;
        configurationLimit = 3;
        xbootldrMountPoint = "/boot";
      };
    };
    grub-bios = server { boot.loader.grub.configurationLimit = 3; };
    grub-esp-below-boot = server {
      boot.loader.grub.configurationLimit = 3;
      boot.loader.efi.efiSysMountPoint = "/boot/efi";
      fileSystems."/boot/efi".device = "/dev/disk/by-uuid/ESP";
    };
  };

  pkgs = nixcheck.pkgsFor { };
  isoBoots = import ./iso-boots.nix {
    inherit pkgs lib;
    lifeboat = eval [ ../../iso/image.nix ];
  };
in
{
  tests = {
    # Every recorded declaration has, in the stub world, the type nixpkgs declares (by the
    # description the module system prints in its errors).
    testDeclaredTypesMatchTheFacts = {
      expr = lib.filter (x: x != null) (
        map (
          d:
          let
            opt = lib.attrByPath d.option null installer.options;
            got = if opt == null then "<not declared>" else opt.type.description;
          in
          if got == d.typeDescription then null else "${lib.concatStringsSep "." d.option}: ${got}"
        ) facts.declarations
      );
      expected = [ ];
    };

    # The installer chain alone merges to what its recorded priorities say.
    testInstallerChainWinners = {
      expr = lib.mapAttrs (_: defs: lib.attrByPath (lib.head defs).option null installer.config) winners;
      expected = expectedWinners;
    };

    testInstallerChainKeyFacts = {
      expr = {
        inherit (installer.config.networking) hostId useDHCP;
        nm = installer.config.networking.networkmanager.enable;
        docs = installer.config.documentation.enable;
        man = installer.config.documentation.man.enable;
        zfs = installer.config.boot.supportedFilesystems.zfs;
        ssh = installer.config.services.openssh.enable;
        edition = installer.config.isoImage.edition;
        baseName = installer.config.image.baseName;
        hostIdFromBaseProfile = map (
          d: lib.hasSuffix "/nixos/modules/profiles/base.nix" (toString d.file)
        ) installer.options.networking.hostId.definitionsWithLocations;
      };
      expected = {
        hostId = "8425e349";
        useDHCP = false;
        nm = true;
        docs = true;
        man = true;
        zfs = true;
        ssh = true;
        edition = "minimal";
        baseName = "nixos-minimal-25.11.20260510.8fd9daa-x86_64-linux";
        hostIdFromBaseProfile = [ true ];
      };
    };

    # `lifeboat rescue-reboot` and the carry reset write where the boot loader installation put the
    # entry's files, in every layout.
    testRescueEntryFilesWhereTheLoaderPutsThem = {
      expr = lib.mapAttrs (
        _: cfg:
        let
          e = cfg.system.build.lifeboatRescueEntry;
          installed = lib.attrValues cfg.system.build.nixcheckBootFiles;
        in
        {
          carry = lib.elem e.carryFile installed;
          entry = lib.elem e.entryFile installed;
        }
      ) layouts;
      expected = lib.mapAttrs (_: _: {
        carry = true;
        entry = true;
      }) layouts;
    };

    # checks.iso-boots-*: the medium boots first (bootindex=1), the server's disk after it.
    testIsoBootsMediumFirst = {
      expr = lib.mapAttrs (
        _: t:
        let
          script = t.testScript;
        in
        {
          medium = lib.hasInfix "drive=cd,bootindex=1" script || lib.hasInfix "drive=stick,bootindex=1" script;
          disk = lib.hasInfix "drive=server,bootindex=2" script;
        }
      ) isoBoots;
      expected = lib.mapAttrs (_: _: {
        medium = true;
        disk = true;
      }) isoBoots;
    };

    # The installer evaluates as a whole against the stubs (its own assertions hold).
    testInstallerToplevel = {
      expr = lib.hasPrefix "/nix/store/" installer.config.system.build.toplevel.drvPath;
      expected = true;
    };
  };

  expectFailure = {
    # zfs.nix + the zfs kernel module's meta.broken: a kernel outside the pinned ZFS's range fails
    # evaluation instead of producing an image without ZFS.
    zfsRefusesAnUnsupportedKernel = {
      expr =
        (eval [
          ../../iso/image.nix
          (
            { pkgs, ... }:
            {
              boot.kernelPackages = pkgs.linuxPackagesFor (
                pkgs.nixcheckStub "linux-6.99.1" { version = "6.99.1"; }
              );
            }
          )
        ]).config.system.build.toplevel.drvPath;
      message = "Package ‘zfs-kernel-2.3.5-6.99.1’ is marked as broken, refusing to evaluate.";
    };
  };
}
