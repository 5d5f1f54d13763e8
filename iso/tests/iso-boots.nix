# checks.x86_64-linux.iso-boots: boot the Lifeboat live system in a VM with a disk that looks like
# a crashed NixOS-on-ZFS server, and check through the HTTP API that the agent found the pool and
# mounted it read-only under the server's hostid.
#
# The node imports ../rescue.nix, i.e. everything the ISO adds to NixOS; what only the image
# contributes (isolinux/GRUB, squashfs store, stage-1 search for the ISO label) is nixpkgs' own ISO
# code, exercised by `nix build .#iso` and nixpkgs' installer tests, not here.
#
# Run on a machine with Nix and KVM: nix build .#checks.x86_64-linux.iso-boots -L
let
  port = 8080;
  api = "http://127.0.0.1:${toString port}";
in
{
  name = "lifeboat-iso-boots";

  nodes.machine =
    { config, pkgs, ... }:
    {
      imports = [ ../rescue.nix ];

      virtualisation = {
        # tmpfs root like the live ISO: nothing but the seed disk survives machine.crash().
        diskImage = null;
        # /dev/vda (the only disk, as diskImage is null), 2 GiB.
        emptyDiskImages = [ 2048 ];
        memorySize = 2048;
        cores = 2;
      };

      services.lifeboat.port = port;

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
    };

  testScript = ''
    machine.start()

    with subtest("the agent starts and answers /healthz without a token"):
        machine.wait_for_unit("lifeboat.service")
        machine.wait_until_succeeds("curl -fsS ${api}/healthz", timeout=120)
        machine.succeed("test \"$(hostid)\" = 55b27845")

    with subtest("seed a disk as the server 'atlas' and crash without exporting"):
        machine.succeed("test \"$(lsblk -dnbo SIZE /dev/vda)\" = 2147483648")
        machine.succeed("lifeboat-seed-disk /dev/vda >&2")
        machine.crash()

    machine.start()

    with subtest("after boot the agent adopts the pool's hostid and mounts it read-only"):
        machine.wait_for_unit("lifeboat.service")
        machine.wait_until_succeeds("test -s /run/lifeboat/token", timeout=120)
        token = machine.succeed("cat /run/lifeboat/token").strip()
        auth = f"-H 'Authorization: Bearer {token}'"
        machine.wait_until_succeeds(
            f"curl -fsS {auth} ${api}/v1/status | jq -e '.phase == \"mounted-ro\"'",
            timeout=300,
        )
        machine.succeed("zpool list -H -o name nvmepool")
        machine.succeed("test \"$(zpool get -H -o value readonly nvmepool)\" = on")
        machine.succeed("findmnt -n -o FSTYPE /mnt | grep -qx zfs")
        machine.succeed("findmnt -n -o OPTIONS /mnt | tr , '\\n' | grep -qx ro")
        machine.succeed("test -f /mnt/etc/nixos/configuration.nix")
        machine.fail("touch /mnt/lifeboat-write-test")
        # Imported under the server's hostid, not forced under Lifeboat's 55b27845.
        machine.succeed("test \"$(hostid)\" = 8425e349")

    with subtest("the API refuses requests without the token"):
        machine.succeed(
            "test \"$(curl -s -o /dev/null -w '%{http_code}' ${api}/v1/status)\" = 401"
        )

    with subtest("the console banner and the mDNS service are in place"):
        machine.wait_for_unit("avahi-daemon.service")
        machine.succeed("grep -q _http._tcp /etc/avahi/services/lifeboat.service")
        machine.wait_until_succeeds("test -s /etc/issue.d/lifeboat.issue", timeout=60)
        machine.succeed(f"grep -qF -e {token} /etc/issue.d/lifeboat.issue")
  '';
}
