# checks.<system>.netboot-boots-{bios,uefi}: the netboot output really netboots. QEMU's user network
# serves a TFTP directory with packages.netboot's files and a small iPXE menu script that sets
# lifeboat.* settings in ${cmdline} and chains nixpkgs' netboot.ipxe, the way a dnsmasq/iPXE setup
# would (README: Start it). BIOS boots QEMU's own iPXE option ROM; UEFI boots OVMF with nixpkgs'
# iPXE as the NIC's option ROM. Checked: the agent answers, the token from the kernel command line
# is the one it accepts and the console shows, auto-mount follows lifeboat.automount.
#
# Like iso-boots.nix, the system under test is the shipped one plus the test driver's
# instrumentation. Runs on a machine with Nix and KVM; here it only evaluates.
{
  pkgs,
  lib,
  # nixosConfigurations.lifeboat-netboot
  netboot,
}:
let
  token = "netboot-test-token-6Tq9Zk2Lw8Rx";
  api = "http://127.0.0.1:8080";
  tested = netboot.extendModules {
    modules = [
      (
        { modulesPath, ... }:
        {
          imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];
          environment.systemPackages = [ pkgs.curl ];
        }
      )
    ];
  };
  menu = pkgs.writeText "boot.ipxe" ''
    #!ipxe
    set cmdline lifeboat.token=${token} lifeboat.automount=off
    chain netboot.ipxe
  '';
  tftp = pkgs.linkFarm "lifeboat-netboot-tftp" [
    {
      name = "boot.ipxe";
      path = menu;
    }
    {
      name = "bzImage";
      path = "${tested.config.system.build.lifeboatNetboot}/bzImage";
    }
    {
      name = "initrd";
      path = "${tested.config.system.build.lifeboatNetboot}/initrd";
    }
    {
      name = "netboot.ipxe";
      path = "${tested.config.system.build.lifeboatNetboot}/netboot.ipxe";
    }
  ];
  qemu = "${pkgs.qemu_test}/bin/qemu-kvm -cpu max -m 4096 -smp 2 -boot order=n";
  net = "-netdev user,id=net0,tftp=${tftp},bootfile=boot.ipxe";
  startCommand = {
    bios = "${qemu} ${net} -device virtio-net-pci,netdev=net0";
    uefi = "${qemu} ${net} -device virtio-net-pci,netdev=net0,romfile=${pkgs.ipxe}/ipxe.efirom -drive if=pflash,format=raw,unit=0,readonly=on,file=${pkgs.OVMF.firmware} -drive if=pflash,format=raw,unit=1,readonly=on,file=${pkgs.OVMF.variables}";
  };
  bootTest =
    name: start:
    pkgs.testers.runNixOSTest {
      name = "lifeboat-netboot-boots-${name}";
      nodes = { };
      testScript = ''
        machine = create_machine("${start}")
        machine.start()
        machine.wait_for_unit("multi-user.target")

        with subtest("the whole system came over the network: nothing but RAM"):
            machine.succeed("findmnt -n -o FSTYPE / | grep -qx tmpfs")
            machine.succeed("findmnt -n -o FSTYPE /nix/.ro-store | grep -qx squashfs")
            machine.succeed("grep -q 'lifeboat.token=${token}' /proc/cmdline")

        with subtest("lifeboat.* settings from the iPXE menu reach the agent"):
            machine.wait_until_succeeds("curl -fsS ${api}/healthz", timeout=120)
            machine.succeed("curl -fsS -H 'Authorization: Bearer ${token}' ${api}/v1/status >&2")
            machine.succeed("test \"$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token-xxxxxxxx' ${api}/v1/status)\" = 401")
            machine.succeed("curl -fsS -H 'Authorization: Bearer ${token}' ${api}/v1/status | grep -q '\"state\":\"off\"'")
            machine.wait_until_succeeds("grep -aqF ${token} /dev/vcs1", timeout=90)

        machine.shutdown()
      '';
    };
in
lib.mapAttrs' (name: start: lib.nameValuePair "netboot-boots-${name}" (bootTest name start)) startCommand
