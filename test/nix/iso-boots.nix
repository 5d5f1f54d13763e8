# checks.<system>.iso-boots-{bios,uefi}-{cdrom,usb}: boot the REAL Lifeboat ISO (the image
# nixosConfigurations.lifeboat builds, plus the NixOS test driver's instrumentation) from a virtual CD
# and from a virtual USB stick, with legacy BIOS and with UEFI (OVMF), next to a disk that looks like
# a crashed NixOS-on-ZFS server: pool `nvmepool` last imported by hostid 8425e349 and never exported.
#
# Like nix-community/nixos-images' installer boot tests (nix/image-installer/tests.nix): the image is
# started by a qemu command line of our own through the driver's create_machine (so the firmware and
# the boot medium are what a real machine has), then checked with `nix store verify` of the running
# system. On top of that, each run checks Lifeboat's promise end to end:
#  - the agent answers /healthz within its start-up time and refuses requests without the token;
#  - tty1 shows the token and the banner has a QR code;
#  - after the disk is seeded as the server and the machine "crashes", the next boot of the stick
#    adopts the pool's hostid, imports it read-only and mounts the installed system read-only at /mnt;
#  - a clean export through the API lets the server import its pool without -f.
#
# Runs on a machine with Nix and KVM: nix build .#checks.x86_64-linux.iso-boots -L (all four), or one
# of them. Here it only evaluates (test/nix: flake check against stubs).
{
  pkgs,
  lib,
  # nixosConfigurations.lifeboat
  lifeboat,
}:
let
  port = toString lifeboat.config.services.lifeboat.port;
  api = "http://127.0.0.1:${port}";
  serverHostId = "8425e349";

  # The shipped image plus the test driver's backdoor (nixos/modules/testing/test-instrumentation.nix),
  # as nixos-images does, and the seeding tool. Nothing else differs from `nix build .#iso`.
  tested = lifeboat.extendModules {
    modules = [
      (
        { modulesPath, config, ... }:
        {
          imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];
          environment.systemPackages = [
            pkgs.curl
            pkgs.jq
            (pkgs.writeShellApplication {
              name = "lifeboat-seed-disk";
              runtimeInputs = [
                config.boot.zfs.package
                pkgs.gptfdisk
                pkgs.dosfstools
                pkgs.util-linux
                pkgs.coreutils
                pkgs.kmod
                pkgs.systemd # udevadm
              ];
              text = builtins.readFile ./seed-disk.sh;
            })
          ];
        }
      )
    ];
  };
  iso = "${tested.config.system.build.isoImage}/iso/${tested.config.image.fileName}";

  # nixos/lib/qemu-common.nix qemuBinary for x86_64-linux: qemu-kvm -cpu max. The driver adds its
  # own monitor, serial and backdoor devices to this command.
  qemu = "${pkgs.qemu_test}/bin/qemu-kvm -cpu max";
  startCommand =
    {
      medium,
      uefi,
    }:
    lib.concatStringsSep " " (
      [
        qemu
        "-m 2048 -smp 2"
        "-netdev user,id=net0 -device virtio-net-pci,netdev=net0"
      ]
      # The medium boots first, always (bootindex: SeaBIOS and OVMF both follow QEMU's bootorder).
      # Without it SeaBIOS tries the server's virtio disk before the USB stick (and QEMU's default
      # order puts hard disks before CD-ROMs): once seeded, its GPT's protective MBR carries the
      # boot signature, and the second boot would start the empty disk instead of Lifeboat.
      ++ lib.optional (medium == "cdrom") "-drive id=cd,file=${iso},if=none,media=cdrom,readonly=on -device ide-cd,drive=cd,bootindex=1"
      ++ lib.optional (medium == "usb") "-device usb-ehci -drive id=stick,file=${iso},if=none,readonly=on,format=raw -device usb-storage,drive=stick,bootindex=1"
      ++ lib.optional uefi "-drive if=pflash,format=raw,unit=0,readonly=on,file=${pkgs.OVMF.firmware} -drive if=pflash,format=raw,unit=1,readonly=on,file=${pkgs.OVMF.variables}"
    );

  bootTest =
    name: opts:
    pkgs.testers.runNixOSTest {
      name = "lifeboat-iso-boots-${name}";
      nodes = { };
      testScript = ''
        import os
        import subprocess
        import tempfile

        # The server's disk: a file that survives the machine's crash and next boot.
        disk = os.path.join(tempfile.mkdtemp(), "server.qcow2")
        subprocess.run(["${pkgs.qemu_test}/bin/qemu-img", "create", "-f", "qcow2", disk, "2G"], check=True)
        start = "${startCommand opts} -drive id=server,file=" + disk + ",if=none,format=qcow2 -device virtio-blk-pci,drive=server,bootindex=2"
        machine = create_machine(start)

        def boot():
            machine.start()
            machine.wait_for_unit("multi-user.target")

        with subtest("the ${name} boot reaches multi-user and the store is intact"):
            boot()
            machine.succeed("nix store verify --no-trust -r --option experimental-features nix-command /run/current-system")
            machine.succeed("test -e /iso/nix-store.squashfs")

        with subtest("the agent answers at once and guards its API"):
            machine.wait_until_succeeds("curl -fsS ${api}/healthz", timeout=120)
            machine.succeed("test \"$(curl -s -o /dev/null -w '%{http_code}' ${api}/v1/status)\" = 401")
            machine.succeed("test \"$(hostid)\" = 55b27845")

        with subtest("tty1 shows the token, the banner has a QR code"):
            machine.wait_until_succeeds("test -s /run/lifeboat/token", timeout=60)
            token = machine.succeed("cat /run/lifeboat/token").strip()
            machine.wait_until_succeeds(f"grep -aqF -e {token} /dev/vcs1", timeout=90)
            machine.wait_until_succeeds("grep -q 'Scan to open the page' /etc/issue.d/lifeboat.issue", timeout=90)
            machine.succeed("grep -q '[▀▄█]' /etc/issue.d/lifeboat.issue")

        with subtest("seed the disk as the server and crash without exporting"):
            machine.succeed("lifeboat-seed-disk /dev/vda >&2")
            machine.crash()

        with subtest("next boot: hostid adopted, pool imported and mounted read-only"):
            boot()
            machine.wait_until_succeeds("test -s /run/lifeboat/token", timeout=60)
            token = machine.succeed("cat /run/lifeboat/token").strip()
            auth = f"-H 'Authorization: Bearer {token}'"
            machine.wait_until_succeeds(
                f"curl -fsS {auth} ${api}/v1/status | jq -e '.phase == \"mounted-ro\"'", timeout=300
            )
            machine.succeed("test \"$(zpool get -H -o value readonly nvmepool)\" = on")
            machine.succeed("findmnt -n -o FSTYPE /mnt | grep -qx zfs")
            machine.succeed("findmnt -n -o OPTIONS /mnt | tr , '\\n' | grep -qx ro")
            machine.succeed("test -f /mnt/etc/nixos/configuration.nix")
            machine.fail("touch /mnt/lifeboat-write-test")
            machine.succeed("test \"$(hostid)\" = ${serverHostId}")

        with subtest("a clean export lets the server import its pool without -f"):
            machine.succeed(f"curl -fsS {auth} -X POST -H 'content-type: application/json' -d '{{}}' ${api}/v1/export")
            machine.succeed("test -z \"$(zpool list -H -o name)\"")
            listing = machine.succeed("zpool import 2>&1")
            assert "last accessed by another system" not in listing, listing
            machine.succeed("zpool import -N nvmepool")
            machine.succeed("zpool export nvmepool")

        machine.shutdown()
      '';
    };

  variants = {
    bios-cdrom = {
      medium = "cdrom";
      uefi = false;
    };
    bios-usb = {
      medium = "usb";
      uefi = false;
    };
    uefi-cdrom = {
      medium = "cdrom";
      uefi = true;
    };
    uefi-usb = {
      medium = "usb";
      uefi = true;
    };
  };
in
lib.mapAttrs' (name: opts: lib.nameValuePair "iso-boots-${name}" (bootTest name opts)) variants
