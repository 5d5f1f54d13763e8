# ZFS on the live system: kernel module, tools and a host id.
{ lib, pkgs, ... }:
{
  # The installer profile only mkDefault's this when ZFS is available for the platform; a rescue
  # medium for ZFS servers without ZFS is useless, so evaluation should fail instead.
  boot.supportedFilesystems.zfs = true;

  # The default LTS kernel of the pinned nixpkgs (6.12 on 25.11) is one the pinned OpenZFS (2.3)
  # supports. The ZFS kernel module is marked broken for kernels it does not support, so a kernel
  # bump that drops ZFS fails evaluation instead of producing an ISO without ZFS.
  boot.kernelPackages = lib.mkDefault pkgs.linuxPackages;

  # NixOS' ZFS module refuses to evaluate without a host id, and the stock installer's fixed
  # 8425e349 (profiles/base.nix) is exactly the id that bites later: a pool force-imported under
  # it records that id, and the server that owns the pool then finds it "last accessed by another
  # system" at its next boot. Lifeboat never imports under its own id: before importing, the agent
  # adopts the pool's hostid (writes the live /etc/hostid, which is on the ISO's tmpfs root, and
  # /sys/module/spl/parameters/spl_hostid), so the pool keeps the hostid of the server it belongs
  # to, whatever is set here. This value only has to be valid and recognisable:
  # 55b27845 = the first 8 hex digits of sha256("lifeboat"). `zpool status` showing it means the
  # adoption did not happen.
  #
  # Priority 900: profiles/base.nix defines networking.hostId = lib.mkDefault "8425e349" (1000), and
  # two definitions of this `nullOr str` option at the same priority with different values do not
  # merge ("conflicting definition values"), so mkDefault here cannot evaluate. 900 beats that
  # mkDefault and still loses to an ordinary definition (100) in the user's own configuration.
  networking.hostId = lib.mkOverride 900 "55b27845";

  # Nothing here imports pools at boot (no file systems on ZFS, no boot.zfs.extraPools): pools
  # are imported by the agent only, read-only first (services.lifeboat.autoMount).
}
