# SSH exactly as on the stock NixOS installer, stated here so that nobody has to read nixpkgs'
# profiles/installation-device.nix to know it:
#  - sshd runs from boot and the firewall lets port 22 in;
#  - root and "nixos" have EMPTY passwords, and sshd refuses empty passwords (its default), so
#    nobody can log in over the network until someone at the console runs `passwd` (or puts a key
#    into /root/.ssh/authorized_keys or /home/nixos/.ssh/authorized_keys);
#  - root may log in with a password once it has one (a rescue shell is a root shell anyway).
# The agent's HTTP API does not depend on sshd; SSH is for the cases the API does not cover.
# The values equal the installer profile's, so both definitions merge.
{
  services.openssh = {
    enable = true;
    openFirewall = true;
    settings.PermitRootLogin = "yes";
  };
}
