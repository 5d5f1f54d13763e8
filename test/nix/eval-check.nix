# Evaluation-only tests of the modules and the agent package (moved here from iso/: tests are not
# product code), in the nixcheck convention:
#   { lib, nixcheck }: { tests = <lib.runTests cases>; expectFailure = { name = { expr; message; }; }; }
# nixcheck = { nixosSystem; pkgsFor = { overlays ? [ ] }: pkgs; }.
#
# Two runners use this file:
#  - flake.nix's checks.<system>.module-eval runs `tests` against the REAL nixpkgs/NixOS of the pin;
#  - test/nix (npm test) runs `tests` and `expectFailure` with ../shared/nixcheck (real nixpkgs lib,
#    stub packages and NixOS options, and the installer chain recorded in ./nixpkgs-facts), where
#    nothing can be fetched or built.
# So the tests only read values both worlds define the same way.
{ lib, nixcheck }:
let
  system = "x86_64-linux";
  version = (lib.importJSON ../../package.json).version;

  eval =
    modules:
    (nixcheck.nixosSystem {
      modules = [ { nixpkgs.hostPlatform = system; } ] ++ modules;
    }).config;

  service = extra: eval [
    ../../iso/service.nix
    extra
  ];
  enabled =
    extra:
    eval [
      ../../iso/service.nix
      { services.lifeboat.enable = true; }
      extra
    ];
  unit = cfg: cfg.systemd.services.lifeboat;

  iso = eval [ ../../iso/image.nix ];
  netboot = eval [ ../../iso/netboot.nix ];
  # A server with the rescue entry (nixosModules.default), systemd-boot or GRUB: a root file system
  # (stage-1.nix asserts one) and the disk GRUB is installed to (grub.nix asserts one), so that only
  # what a test is about can fail.
  server =
    extra:
    eval [
      ../../iso/service.nix
      {
        services.lifeboat.rescueEntry.enable = true;
        # ext4, not ZFS: a ZFS file system turns ZFS on, whose assertions (hostId) are not what these
        # tests are about
        fileSystems."/" = {
          device = "/dev/disk/by-label/nixos";
          fsType = "ext4";
        };
        boot.loader.grub.devices = lib.mkDefault [ "/dev/disk/by-id/virtio-server" ];
      }
      extra
    ];
  sdbootServer = server {
    boot.loader.systemd-boot = {
      enable = true;
      configurationLimit = 5;
    };
    boot.loader.grub.enable = false;
  };
  netbootWith = extra: eval [
    ../../iso/netboot.nix
    extra
  ];
  isoWith = extra: eval [
    ../../iso/image.nix
    extra
  ];

  pkgs = nixcheck.pkgsFor { };
  agent = pkgs.callPackage ../../iso/package.nix { };

  # Store-path strings carry context, which builtins.match (under lib.hasInfix) refuses.
  plain = builtins.unsafeDiscardStringContext;

  # Forces a whole value, so that type errors inside it surface (for expectFailure).
  force = v: builtins.deepSeq v v;

  # An expected failure that is a failed assertion: the system's toplevel must fail, and (checked by
  # testAssertionFailuresFailForTheirReason, here and against the real NixOS) the failed assertions
  # must be exactly one, with that message: not "some assertion failed".
  failsAssertion = cfg: message: {
    expr = cfg.system.build.toplevel.drvPath;
    inherit message;
    assertionsOf = cfg;
  };
  failedAssertions = cfg: map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);

  # GRUB with the ESP at /boot/efi below a /boot partition (the OpenZFS guides' layout, with /boot on
  # bpool there).
  grubEspServer = server {
    boot.loader.grub = {
      enable = true;
      efiSupport = true;
      configurationLimit = 4;
    };
    boot.loader.efi.efiSysMountPoint = "/boot/efi";
    fileSystems."/boot" = {
      device = "/dev/disk/by-label/boot";
      fsType = "ext4";
    };
    fileSystems."/boot/efi" = {
      device = "/dev/disk/by-uuid/ESP";
      fsType = "vfat";
    };
  };
  # systemd-boot with an XBOOTLDR partition at /boot and the ESP at /efi.
  xbootldrServer = server {
    boot.loader.systemd-boot = {
      enable = true;
      configurationLimit = 5;
      xbootldrMountPoint = "/boot";
    };
    boot.loader.grub.enable = false;
    boot.loader.efi.efiSysMountPoint = "/efi";
  };
in
lib.fix (self: {
  tests = {
    # ---- services.lifeboat
    testServiceOnlyWhenEnabled = {
      expr = (service { }).systemd.services ? lifeboat;
      expected = false;
    };
    testServiceUnit =
      let
        u = unit (enabled { });
      in
      {
        expr = {
          inherit (u) wantedBy;
          # No wait for network-online.target (a server without a link shows its token at once).
          waitsForNetwork = lib.elem "network-online.target" (u.after ++ u.wants ++ u.requires);
          # Restarts never give up.
          startLimit = u.unitConfig.StartLimitIntervalSec;
          inherit (u.serviceConfig)
            Restart
            User
            RuntimeDirectory
            RuntimeDirectoryMode
            RuntimeDirectoryPreserve
            StandardOutput
            ;
          # PATH comes from the package's wrapper only.
          pathFromUnit = u.path == [ ] && !(u.environment ? PATH);
        };
        expected = {
          wantedBy = [ "multi-user.target" ];
          waitsForNetwork = false;
          startLimit = 0;
          Restart = "always";
          User = "root";
          RuntimeDirectory = "lifeboat";
          RuntimeDirectoryMode = "0700";
          RuntimeDirectoryPreserve = "yes";
          StandardOutput = "journal";
          pathFromUnit = true;
        };
      };
    testBannerDoesNotWaitForNetwork =
      let
        b = iso.systemd.services.lifeboat-banner;
      in
      {
        expr = lib.elem "network-online.target" (b.after ++ b.wants ++ b.requires);
        expected = false;
      };
    testServiceRunsThePackage =
      let
        cfg = enabled { };
      in
      {
        expr = (unit cfg).serviceConfig.ExecStart;
        expected = "${cfg.services.lifeboat.package}/bin/lifeboat";
      };
    testServiceDefaultsInEnvironment = {
      expr = lib.getAttrs [
        "LIFEBOAT_LISTEN"
        "LIFEBOAT_ROOT"
        "LIFEBOAT_TOKEN_FILE"
        "LIFEBOAT_AUTO_MOUNT"
        "LIFEBOAT_LOG_LEVEL"
      ] (unit (enabled { })).environment;
      expected = {
        LIFEBOAT_LISTEN = "[::]:8080";
        LIFEBOAT_ROOT = "/mnt";
        LIFEBOAT_TOKEN_FILE = "/run/lifeboat/token";
        LIFEBOAT_AUTO_MOUNT = "off";
        LIFEBOAT_LOG_LEVEL = "info";
      };
    };
    testServiceSettingsInEnvironment = {
      expr =
        lib.getAttrs
          [
            "LIFEBOAT_LISTEN"
            "LIFEBOAT_ROOT"
            "LIFEBOAT_TOKEN_FILE"
            "LIFEBOAT_AUTO_MOUNT"
            "LIFEBOAT_LOG_LEVEL"
          ]
          (
            unit (enabled {
              services.lifeboat = {
                enable = true;
                listen = "0.0.0.0";
                port = 9000;
                root = "/rescue";
                tokenFile = "/etc/lifeboat/token";
                autoMount = "readwrite";
                logLevel = "debug";
              };
            })
          ).environment;
      expected = {
        LIFEBOAT_LISTEN = "0.0.0.0:9000";
        LIFEBOAT_ROOT = "/rescue";
        LIFEBOAT_TOKEN_FILE = "/etc/lifeboat/token";
        LIFEBOAT_AUTO_MOUNT = "readwrite";
        LIFEBOAT_LOG_LEVEL = "debug";
      };
    };
    testTlsOffByDefault = {
      expr = (unit (enabled { })).environment.LIFEBOAT_TLS;
      expected = "off";
    };
    testTlsOn = {
      expr =
        (unit (enabled {
          services.lifeboat.tls = true;
        })).environment.LIFEBOAT_TLS;
      expected = "on";
    };
    testFirewallClosedByDefault = {
      expr = lib.elem 8080 (enabled { }).networking.firewall.allowedTCPPorts;
      expected = false;
    };
    testOpenFirewall = {
      expr =
        lib.elem 9000
          (enabled {
            services.lifeboat = {
              enable = true;
              port = 9000;
              openFirewall = true;
            };
          }).networking.firewall.allowedTCPPorts;
      expected = true;
    };
    testPackageOnSystemPath =
      let
        cfg = enabled { };
      in
      {
        expr = lib.elem cfg.services.lifeboat.package.outPath (
          map (p: p.outPath) cfg.environment.systemPackages
        );
        expected = true;
      };
    # The zfs userland on the agent's PATH is the one whose kernel module the system loads.
    testPackageUsesBootZfs =
      let
        cfg = enabled { };
      in
      {
        expr = lib.elem cfg.boot.zfs.package.outPath (
          map (p: p.outPath) cfg.services.lifeboat.package.runtimeTools
        );
        expected = true;
      };
    testWarnsWithoutZfs = {
      expr = lib.any (lib.hasInfix "without ZFS support") (enabled { }).warnings;
      expected = true;
    };

    # ---- the agent package
    testAgentVersionFromPackageJson = {
      expr = agent.version;
      expected = version;
    };
    testAgentMainProgram = {
      expr = agent.meta.mainProgram;
      expected = "lifeboat";
    };
    testAgentWrapperSetsPath = {
      expr =
        let
          install = plain agent.installPhase;
          has = s: lib.hasInfix (plain s) install;
        in
        {
          setsPath = has "--set PATH ${lib.makeBinPath agent.runtimeTools}";
          node = has (lib.getExe agent.nodejs);
          zfsOnPath = has "${lib.getBin pkgs.zfs}/bin";
          nixosEnterOnPath = has "${lib.getBin pkgs.nixos-enter}/bin";
        };
      expected = {
        setsPath = true;
        node = true;
        zfsOnPath = true;
        nixosEnterOnPath = true;
      };
    };
    # Every command of iso/agent-commands.json (= the commands in agent/src, test/nix checks that)
    # is provided by a package whose bin/ is on the wrapper's PATH.
    testAgentCommandsOnPath =
      let
        list = lib.importJSON ../../iso/agent-commands.json;
        path = plain (lib.makeBinPath agent.runtimeTools);
        onPath = cmd: lib.hasInfix (plain "${lib.getBin agent.commands.${cmd}}/bin") path;
      in
      {
        expr = lib.filter (cmd: !(onPath cmd)) (
          lib.attrNames list.commands ++ lib.attrNames (removeAttrs list.helpers [ "about" ])
        );
        expected = [ ];
      };
    testAgentRuntimeTools = {
      # exactly the packages iso/agent-commands.json names; change it only with the README list
      expr = map (p: p.pname or p.name) agent.runtimeTools;
      expected = map (p: p.pname or p.name) [
        pkgs.util-linux
        pkgs.bubblewrap
        pkgs.cryptsetup
        pkgs.gitMinimal
        pkgs.coreutils
        pkgs.systemd
        pkgs.lvm2
        pkgs.mdadm
        pkgs.nixos-enter
        pkgs.zfs
      ];
    };

    # ---- the ISO configuration
    testIsoFileName = {
      expr = iso.image.baseName;
      expected = "lifeboat-${version}-x86_64-linux";
    };
    testIsoVolumeId = {
      expr = iso.isoImage.volumeID;
      expected = "lifeboat-${version}";
    };
    testIsoZfs = {
      expr = {
        zfs = iso.boot.supportedFilesystems.zfs;
        hostIdSet = iso.networking.hostId != null;
        notTheInstallerHostId = iso.networking.hostId != "8425e349";
      };
      expected = {
        zfs = true;
        hostIdSet = true;
        notTheInstallerHostId = true;
      };
    };
    # A user's ordinary definition wins over the ISO's (and over the installer's mkDefault).
    testIsoHostIdOverridable = {
      expr = (isoWith { networking.hostId = "deadbeef"; }).networking.hostId;
      expected = "deadbeef";
    };
    testIsoHostIdOverridableWholeSystem = {
      expr = lib.hasPrefix "/nix/store/" (isoWith { networking.hostId = "deadbeef"; }).system.build.toplevel.drvPath;
      expected = true;
    };
    # DHCP comes from the installer's NetworkManager, not from useDHCP (which it sets to false).
    testIsoNetworkManagerDoesDhcp = {
      expr = {
        inherit (iso.networking) useDHCP;
        nm = iso.networking.networkmanager.enable;
      };
      expected = {
        useDHCP = false;
        nm = true;
      };
    };
    testIsoAgent = {
      expr = {
        inherit (iso.services.lifeboat) enable autoMount openFirewall;
        port8080Open = lib.elem 8080 iso.networking.firewall.allowedTCPPorts;
        env = (unit iso).environment.LIFEBOAT_AUTO_MOUNT;
      };
      expected = {
        enable = true;
        autoMount = "readonly";
        openFirewall = true;
        port8080Open = true;
        env = "readonly";
      };
    };
    testIsoMdns = {
      expr = {
        inherit (iso.networking) hostName;
        inherit (iso.services.avahi) enable;
        publish = {
          inherit (iso.services.avahi.publish) enable addresses;
        };
        httpService = lib.hasInfix "<type>_http._tcp</type>" (plain iso.services.avahi.extraServiceFiles.lifeboat);
        port = lib.hasInfix "<port>8080</port>" (plain iso.services.avahi.extraServiceFiles.lifeboat);
      };
      expected = {
        hostName = "lifeboat";
        enable = true;
        publish = {
          enable = true;
          addresses = true;
        };
        httpService = true;
        port = true;
      };
    };
    testIsoMdnsFollowsPort = {
      expr = lib.hasInfix "<port>9000</port>" (
        plain (isoWith { services.lifeboat.port = 9000; }).services.avahi.extraServiceFiles.lifeboat
      );
      expected = true;
    };
    testIsoConsoleBanner = {
      expr = {
        timer = iso.systemd.timers ? lifeboat-banner;
        oneshot = iso.systemd.services.lifeboat-banner.serviceConfig.Type;
        args = lib.hasSuffix " /run/lifeboat/token 8080" (plain iso.systemd.services.lifeboat-banner.serviceConfig.ExecStart);
        helpLine = lib.hasInfix "http://lifeboat.local:8080/" (plain iso.services.getty.helpLine);
      };
      expected = {
        timer = true;
        oneshot = "oneshot";
        args = true;
        helpLine = true;
      };
    };
    testIsoSsh = {
      expr = {
        inherit (iso.services.openssh) enable;
        inherit (iso.services.openssh.settings) PermitRootLogin;
      };
      expected = {
        enable = true;
        PermitRootLogin = "yes";
      };
    };
    testIsoWithoutDocs = {
      expr = {
        inherit (iso.documentation) enable;
        man = iso.documentation.man.enable;
        nixos = iso.documentation.nixos.enable;
      };
      expected = {
        enable = false;
        man = false;
        nixos = false;
      };
    };
    # ---- netboot (packages.netboot) and the kexec tarball (packages.kexec): the same rescue system
    testNetbootIsTheRescueSystem = {
      expr = {
        toplevel = lib.hasPrefix "/nix/store/" netboot.system.build.toplevel.drvPath;
        inherit (netboot.services.lifeboat) enable autoMount openFirewall;
        zfs = netboot.boot.supportedFilesystems.zfs;
        notInstallerHostId = netboot.networking.hostId != "8425e349";
        nm = netboot.networking.networkmanager.enable;
        banner = netboot.systemd.timers ? lifeboat-banner;
        mdns = netboot.services.avahi.enable;
      };
      expected = {
        toplevel = true;
        enable = true;
        autoMount = "readonly";
        openFirewall = true;
        zfs = true;
        notInstallerHostId = true;
        nm = true;
        banner = true;
        mdns = true;
      };
    };
    testNetbootIpxeTakesLifeboatSettings = {
      # nixpkgs' netboot.ipxe ends in ${cmdline}: lifeboat.* settings set there reach the agent.
      expr = lib.hasInfix "\${cmdline}" netboot.system.build.netbootIpxeScript.text;
      expected = true;
    };
    testCarryOver = {
      expr = {
        stage1 = lib.hasInfix "/run/lifeboat-carry" netboot.boot.initrd.postMountCommands;
        inherit (netboot.systemd.services.lifeboat-carry.unitConfig) ConditionPathIsDirectory;
        beforeAgent = lib.elem "lifeboat.service" netboot.systemd.services.lifeboat-carry.before;
        beforeNetworkManager = lib.elem "NetworkManager.service" netboot.systemd.services.lifeboat-carry.before;
        tokenFile = lib.hasInfix " /run/lifeboat/token " (
          plain netboot.systemd.services.lifeboat-carry.serviceConfig.ExecStart
        );
      };
      expected = {
        stage1 = true;
        ConditionPathIsDirectory = "/run/lifeboat-carry";
        beforeAgent = true;
        beforeNetworkManager = true;
        tokenFile = true;
      };
    };
    testKexecCommandLine =
      let
        tarball = pkgs.callPackage ../../iso/kexec/tarball.nix { inherit netboot; };
      in
      {
        expr = lib.hasPrefix "init=${plain netboot.system.build.toplevel}/init " (plain tarball.cmdline);
        expected = true;
      };

    # ---- md RAID and LVM (iso/storage-stacks.nix): nothing assembles or activates at boot on any
    # rescue system; the agent does it read-only. The installer chain enables boot.swraid (mdadm's
    # udev assembly) and every NixOS has LVM's udev autoactivation and stage 1's `lvm vgchange -ay`
    # (test/nix/nixpkgs-facts: installation-device.nix, swraid.nix, lvm.nix, stage-1-init.sh).
    testStorageStacksStayPut =
      let
        rescue = sdbootServer.system.build.lifeboatRescueEntry.rescue;
        tarball = pkgs.callPackage ../../iso/kexec/tarball.nix { inherit netboot; };
        settings = cfg: {
          startRo = lib.elem "md_mod.start_ro=1" cfg.boot.kernelParams;
          noAutodetect = lib.elem "raid=noautodetect" cfg.boot.kernelParams;
          mdadmAutoOff = lib.hasInfix "AUTO -all" cfg.boot.swraid.mdadmConf;
          # a lines option: lvm.nix's "config {}" stays, ours is added (the order of the two is the
          # module system's; the real NixOS may carry more lines, so only presence is checked)
          lvmConf =
            lib.hasInfix "activation/auto_activation_volume_list = [ ]" cfg.environment.etc."lvm/lvm.conf".text
            && lib.hasInfix "config {}" cfg.environment.etc."lvm/lvm.conf".text;
          stage1 = lib.hasInfix "activation/volume_list = [ ]\n" cfg.boot.initrd.preLVMCommands;
        };
        installerLike = {
          startRo = true;
          noAutodetect = true;
          mdadmAutoOff = true;
          lvmConf = true;
          stage1 = true;
        };
        # the installer's PROGRAM line (a store path) and ours, both in the file swraid.nix writes
        mdadmConfOf =
          cfg:
          let
            t = cfg.environment.etc."mdadm.conf".text;
          in
          lib.hasInfix "AUTO -all" t && lib.hasInfix "PROGRAM /nix/store/" t;
      in
      {
        expr = {
          iso = settings iso;
          netboot = settings netboot;
          rescueEntry = settings rescue;
          # The installer profile turns mdadm's udev assembly on; its mdadm.conf says AUTO -all.
          isoMdadmConf = mdadmConfOf iso;
          netbootMdadmConf = mdadmConfOf netboot;
          netbootSwraid = netboot.boot.swraid.enable;
          # The lean rescue entry has no installer profile: no mdadm udev rules at all.
          rescueEntrySwraid = rescue.boot.swraid.enable;
          kexecCmdline = lib.hasInfix " md_mod.start_ro=1 " "${plain tarball.cmdline} ";
        };
        expected = {
          iso = installerLike;
          netboot = installerLike;
          rescueEntry = installerLike;
          isoMdadmConf = true;
          netbootMdadmConf = true;
          netbootSwraid = true;
          rescueEntrySwraid = false;
          kexecCmdline = true;
        };
      };
    # nixos/modules/system/boot/systemd/initrd.nix asserts preLVMCommands is empty with a systemd
    # stage 1 (which has no `lvm vgchange -ay` to stop): the module then leaves it alone.
    testStorageStacksSystemdStage1 = {
      expr = (isoWith { boot.initrd.systemd.enable = true; }).boot.initrd.preLVMCommands;
      expected = "";
    };

    # ---- services.lifeboat.rescueEntry (a server's own ESP)
    testRescueEntrySystemdBoot =
      let
        cfg = sdbootServer;
        entry = cfg.boot.loader.systemd-boot.extraEntries."lifeboat-rescue.conf";
      in
      {
        expr = {
          files = lib.attrNames cfg.boot.loader.systemd-boot.extraFiles;
          title = lib.hasInfix "title Lifeboat rescue\n" entry;
          kernel = lib.hasInfix "linux /efi/lifeboat/bzImage\n" entry;
          initrds = lib.hasInfix "initrd /efi/lifeboat/initrd\ninitrd /efi/lifeboat/carry.cpio\n" entry;
          init = lib.hasInfix "options init=/nix/store/" (plain entry);
          command = lib.any (p: (p.name or "") == "lifeboat") cfg.environment.systemPackages;
          reset = cfg.systemd.services ? lifeboat-rescue-carry-reset;
          toplevel = lib.hasPrefix "/nix/store/" cfg.system.build.toplevel.drvPath;
          # The agent service itself stays off on the server.
          agent = cfg.systemd.services ? lifeboat;
        };
        expected = {
          files = [
            "efi/lifeboat/bzImage"
            "efi/lifeboat/carry.cpio"
            "efi/lifeboat/initrd"
          ];
          title = true;
          kernel = true;
          initrds = true;
          init = true;
          command = true;
          reset = true;
          toplevel = true;
          agent = false;
        };
      };
    # The rescue system on the ESP is the same rescue system, lean (no installer profiles).
    testRescueEntrySystem =
      let
        rescue = sdbootServer.system.build.lifeboatRescueEntry.rescue;
      in
      {
        expr = {
          toplevel = lib.hasPrefix "/nix/store/" rescue.system.build.toplevel.drvPath;
          inherit (rescue.services.lifeboat) enable autoMount;
          nm = rescue.networking.networkmanager.enable;
          carry = rescue.systemd.services ? lifeboat-carry;
          zfs = rescue.boot.supportedFilesystems.zfs;
          hostId = rescue.networking.hostId;
          installerUser = rescue.users.users ? nixos;
        };
        expected = {
          toplevel = true;
          enable = true;
          autoMount = "readonly";
          nm = true;
          carry = true;
          zfs = true;
          hostId = "55b27845";
          installerUser = false;
        };
      };
    testRescueEntryGrub =
      let
        cfg = server {
          boot.loader.grub = {
            enable = true;
            configurationLimit = 4;
          };
        };
      in
      {
        expr = {
          files = lib.attrNames cfg.boot.loader.grub.extraFiles;
          entry = lib.hasInfix "--id lifeboat-rescue" cfg.boot.loader.grub.extraEntries;
          # efiSysMountPoint is /boot, a directory of the root file system here
          initrds = lib.hasInfix "initrd /boot/lifeboat/initrd /boot/lifeboat/carry.cpio" cfg.boot.loader.grub.extraEntries;
        };
        expected = {
          files = [
            "lifeboat/bzImage"
            "lifeboat/carry.cpio"
            "lifeboat/initrd"
          ];
          entry = true;
          initrds = true;
        };
      };

    # grub.nix copies extraFiles under boot.loader.efi.efiSysMountPoint: with the ESP at /boot/efi the
    # files are there, `lifeboat rescue-reboot` writes the carry archive there, and GRUB finds them at
    # /lifeboat on the ESP.
    testRescueEntryGrubEspBelowBoot =
      let
        cfg = grubEspServer;
        e = cfg.system.build.lifeboatRescueEntry;
      in
      {
        expr = {
          inherit (e) carryFile entryFile;
          search = lib.hasInfix "search --no-floppy --set=root --file /lifeboat/carry.cpio\n" cfg.boot.loader.grub.extraEntries;
          initrds = lib.hasInfix "initrd /lifeboat/initrd /lifeboat/carry.cpio\n" cfg.boot.loader.grub.extraEntries;
          reset = lib.hasInfix "f=/boot/efi/lifeboat/carry.cpio\n" cfg.systemd.services.lifeboat-rescue-carry-reset.script;
          mounts = cfg.systemd.services.lifeboat-rescue-carry-reset.unitConfig.RequiresMountsFor;
          toplevel = lib.hasPrefix "/nix/store/" cfg.system.build.toplevel.drvPath;
        };
        expected = {
          carryFile = "/boot/efi/lifeboat/carry.cpio";
          entryFile = "/boot/efi/lifeboat/bzImage";
          search = true;
          initrds = true;
          reset = true;
          mounts = "/boot/efi";
          toplevel = true;
        };
      };
    # systemd-boot.nix installs extraFiles and extraEntries under xbootldrMountPoint when it is set.
    testRescueEntrySystemdBootXbootldr =
      let
        e = xbootldrServer.system.build.lifeboatRescueEntry;
      in
      {
        expr = {
          inherit (e) carryFile entryFile;
          mounts = xbootldrServer.systemd.services.lifeboat-rescue-carry-reset.unitConfig.RequiresMountsFor;
        };
        expected = {
          carryFile = "/boot/efi/lifeboat/carry.cpio";
          entryFile = "/boot/loader/entries/lifeboat-rescue.conf";
          mounts = "/boot";
        };
      };
    testRescueEntrySystemdBootPaths = {
      expr = {
        inherit (sdbootServer.system.build.lifeboatRescueEntry) carryFile entryFile;
      };
      expected = {
        carryFile = "/boot/efi/lifeboat/carry.cpio";
        entryFile = "/boot/loader/entries/lifeboat-rescue.conf";
      };
    };
    # The room for the entry is derived (512 MiB − 5 generations × 48 MiB), and the build measures
    # the files against it; the initrd is padded to a multiple of 4 (systemd-boot appends the carry
    # archive without padding).
    testRescueEntryBuildChecksMeasuredSize =
      let
        build = sdbootServer.system.build.lifeboatRescueEntry.buildCommand;
      in
      {
        expr = {
          budget = sdbootServer.services.lifeboat.rescueEntry.budgetMiB;
          room = lib.hasInfix "(room: 272 MiB)" build;
          measured = lib.hasInfix "du -m --apparent-size" build;
          message = lib.hasInfix "the rescue kernel, initrd and carry archive take $used MiB; the 512 MiB ESP leaves 272 MiB after 5 generations" build;
          padded = lib.hasInfix "truncate --size=%4 $out/initrd" build;
        };
        expected = {
          budget = null;
          room = true;
          measured = true;
          message = true;
          padded = true;
        };
      };
    # Every expected failure that is an assertion fails with exactly that one assertion.
    testAssertionFailuresFailForTheirReason = {
      expr = lib.filterAttrs (_: v: v != null) (
        lib.mapAttrs (
          _: c:
          let
            failed = failedAssertions c.assertionsOf;
          in
          if lib.length failed == 1 && lib.hasInfix c.message (lib.head failed) then null else failed
        ) (lib.filterAttrs (_: c: c ? assertionsOf) self.expectFailure)
      );
      expected = { };
    };
    # The test servers themselves pass every assertion (root file system, GRUB devices, …).
    testServersPassAssertions = {
      expr = map failedAssertions [
        sdbootServer
        grubEspServer
        xbootldrServer
      ];
      expected = [
        [ ]
        [ ]
        [ ]
      ];
    };

    # ---- netboot/kexec image contents
    # netboot-base.nix brings the installer profile, which turns the manuals on at
    # mkImageMediaOverride; netboot-minimal.nix man pages at mkOverride 500. None on a rescue system
    # that lives in RAM.
    testNetbootWithoutDocs = {
      expr = {
        inherit (netboot.documentation) enable;
        man = netboot.documentation.man.enable;
        nixos = netboot.documentation.nixos.enable;
        doc = netboot.documentation.doc.enable;
        info = netboot.documentation.info.enable;
      };
      expected = {
        enable = false;
        man = false;
        nixos = false;
        doc = false;
        info = false;
      };
    };
    # netboot-minimal.nix: no redistributable firmware (mkOverride 70); a module of the user's own
    # can still turn it on with mkForce.
    testNetbootFirmware = {
      expr = {
        default = netboot.hardware.enableRedistributableFirmware;
        forced = (netbootWith { hardware.enableRedistributableFirmware = lib.mkForce true; }).hardware.enableRedistributableFirmware;
      };
      expected = {
        default = false;
        forced = true;
      };
    };
    # The tarball's ip is iproute2 without iptables (as nixos-images builds it), its initrd is padded.
    testKexecTarballContents =
      let
        tarball = pkgs.callPackage ../../iso/kexec/tarball.nix { inherit netboot; };
        build = plain tarball.buildCommand;
      in
      {
        expr = {
          ip = lib.hasInfix "${plain (pkgs.pkgsStatic.iproute2.override { iptables = null; })}/bin/ip " build;
          padded = lib.hasInfix "truncate --size=%4 \"$d/initrd\"" build;
          name = lib.hasSuffix "-x86_64-linux.tar.gz" tarball.name;
        };
        expected = {
          ip = true;
          padded = true;
          name = true;
        };
      };

    # The whole system evaluates: assertions hold and (with the stubs) every value type-checks.
    testIsoToplevelEvaluates = {
      expr = lib.hasPrefix "/nix/store/" iso.system.build.toplevel.drvPath;
      expected = true;
    };
  };

  # Each must fail with an error containing `message`. test/nix checks the message; flake.nix's
  # module-eval, against the real NixOS of the pin, checks that evaluation fails and, for failed
  # assertions (`assertionsOf`), that exactly this one assertion fails (Nix cannot catch an error's
  # text; the assertion list it can read).
  expectFailure = {
    # What iso/zfs.nix did before: the installer chain (profiles/base.nix) sets
    # networking.hostId = lib.mkDefault "8425e349", and a second mkDefault of another value cannot
    # be merged (types.nullOr types.str).
    installerHostIdAtMkDefaultConflicts = {
      expr =
        (eval [
          (
            { modulesPath, ... }:
            {
              imports = [ "${modulesPath}/installer/cd-dvd/installation-cd-minimal.nix" ];
              networking.hostId = lib.mkDefault "55b27845";
            }
          )
        ]).system.build.toplevel.drvPath;
      message = "The option `networking.hostId' has conflicting definition values";
    };
    # The 25.11 installer runs NetworkManager, whose module sets networking.useDHCP = false.
    installerUseDhcpConflicts = {
      expr = (isoWith { networking.useDHCP = true; }).system.build.toplevel.drvPath;
      message = "The option `networking.useDHCP' has conflicting definition values";
    };
    # The ESP room is checked at evaluation: a boot loader that keeps every generation…
    rescueEntryUnlimitedGenerations = failsAssertion (server {
      boot.loader.systemd-boot.enable = true;
      boot.loader.grub.enable = false;
    }) "the boot loader keeps every generation (configurationLimit = null)";
    # … or so many that they alone fill 512 MiB (GRUB keeps 100 by default).
    rescueEntryOverBudget = failsAssertion (server {
      boot.loader.grub.enable = true;
    }) "100 generations × 48 MiB = 4800 MiB leave no room for the rescue entry on the 512 MiB ESP";
    # … or a budget that does not fit next to them.
    rescueEntryBudgetTooLarge = failsAssertion (server {
      boot.loader.grub = {
        enable = true;
        configurationLimit = 5;
      };
      services.lifeboat.rescueEntry.budgetMiB = 300;
    }) "budgetMiB = 300 does not fit: the 512 MiB ESP leaves 272 MiB after 5 generations";
    rescueEntryNeedsABootLoader = failsAssertion (server {
      boot.loader.grub.enable = false;
    }) "services.lifeboat.rescueEntry needs systemd-boot or GRUB";
    # stage-1.nix: a server without a root file system (what the test servers had before).
    serverNeedsARootFileSystem = failsAssertion (eval [
      ../../iso/service.nix
      {
        services.lifeboat.rescueEntry.enable = true;
        boot.loader.grub.enable = false;
        boot.loader.systemd-boot = {
          enable = true;
          configurationLimit = 5;
        };
      }
    ]) "The ‘fileSystems’ option does not specify your root file system.";
    # grub.nix: GRUB without the disk to install to.
    grubNeedsDevices = failsAssertion (server {
      boot.loader.grub = {
        enable = true;
        configurationLimit = 4;
        devices = lib.mkForce [ ];
      };
    }) "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
    # The carry-over hooks scripted stage 1 (and leaves postMountCommands empty otherwise, so that
    # systemd/initrd.nix's own assertion does not fire as well). A lean system: nothing else in it
    # sets a scripted-stage-1 hook.
    carryNeedsScriptedStage1 = failsAssertion (eval [
      ../../iso/service.nix
      ../../iso/carry.nix
      {
        services.lifeboat.enable = true;
        boot.initrd.systemd.enable = true;
        boot.loader.grub.enable = false;
        fileSystems."/" = {
          device = "/dev/disk/by-label/nixos";
          fsType = "ext4";
        };
      }
    ]) "needs the scripted stage 1";
    # iso-image.nix: the ISO 9660 volume identifier holds 32 bytes.
    isoVolumeIdTooLong = failsAssertion (isoWith {
      isoImage.volumeID = lib.mkOverride 10 "lifeboat-0123456789-0123456789-xyz";
    }) "characters longer than the limit of 32";
    # network-interfaces.nix: 8 hex digits.
    hostIdFormat = failsAssertion (isoWith {
      networking.hostId = "lifeboat";
    }) "Invalid value given to the networking.hostId option.";
    autoMountEnum = {
      expr = force (unit (enabled { services.lifeboat.autoMount = "yes"; })).environment;
      message = "services.lifeboat.autoMount' is not of type";
    };
    portRange = {
      expr = force (unit (enabled { services.lifeboat.port = 70000; })).environment;
      message = "services.lifeboat.port' is not of type";
    };
    tokenFileNotANixPath = {
      # A Nix path would be copied into the world-readable store.
      expr = force (unit (enabled { services.lifeboat.tokenFile = ../../iso/service.nix; })).environment;
      message = "services.lifeboat.tokenFile' is not of type";
    };
    rootMustBeAbsolute = {
      expr = force (unit (enabled { services.lifeboat.root = "mnt"; })).environment;
      message = "services.lifeboat.root' is not of type";
    };
    typoInOwnOption = {
      expr = force (unit (enabled { services.lifeboat.automount = "readonly"; })).environment;
      message = "The option `services.lifeboat.automount' does not exist";
    };
  };
})
