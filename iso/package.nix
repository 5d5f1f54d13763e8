# The Lifeboat agent: the committed esbuild bundle run by Node 22, with a PATH that holds exactly
# the tools the agent runs. No npm dependency hash is needed: `npm test` fails when
# dist/lifeboat.mjs differs from a fresh build of agent/, so packaging the committed bundle packages
# what the source says.
{
  lib,
  stdenvNoCC,
  makeWrapper,
  nodejs_22,
  zfs,
  util-linux,
  cryptsetup,
  dosfstools,
  coreutils,
  systemd,
  kmod,
  iproute2,
  nixos-enter,
  nixos-rebuild-ng,
  e2fsprogs,
  btrfs-progs,
  xfsprogs,
}:
let
  packageJson = lib.importJSON ../package.json;

  runtimeTools = [
    zfs # zpool, zfs: import, mount and inspect pools (the NixOS module passes boot.zfs.package so
    # userland matches the loaded kernel module)
    util-linux # lsblk, blkid, mount, umount, findmnt
    cryptsetup # LUKS volumes under or beside the pool
    dosfstools # fsck.vfat for the ESP
    e2fsprogs # ext4 roots and /boot partitions
    btrfs-progs
    xfsprogs
    coreutils # chroot, id, install, readlink: nixos-enter needs them on PATH
    systemd # journalctl (the agent's own log and the installed system's journal)
    kmod # modprobe zfs
    iproute2 # ip: addresses for the banner
    nixos-enter # enter the mounted system (rebuild jobs run nixos-rebuild inside it)
    # nixos-rebuild-ng is 25.11's nixos-rebuild; without the suffix its command is `nixos-rebuild`.
    (nixos-rebuild-ng.override { withNgSuffix = false; })
  ];
in
stdenvNoCC.mkDerivation {
  pname = "lifeboat";
  inherit (packageJson) version;

  # Only the bundle: editing agent/, tests or docs does not change this derivation.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = ../dist/lifeboat.mjs;
  };

  nativeBuildInputs = [ makeWrapper ];

  dontConfigure = true;
  dontBuild = true;

  installPhase = ''
    runHook preInstall
    install -Dm444 dist/lifeboat.mjs "$out/lib/lifeboat/lifeboat.mjs"
    # --set, not --prefix: the agent must not depend on whatever PATH its caller has.
    makeWrapper ${lib.getExe nodejs_22} "$out/bin/lifeboat" \
      --add-flags "$out/lib/lifeboat/lifeboat.mjs" \
      --set PATH ${lib.makeBinPath runtimeTools}
    runHook postInstall
  '';

  passthru = {
    inherit runtimeTools;
    nodejs = nodejs_22;
  };

  meta = {
    inherit (packageJson) description;
    license = lib.licenses.mit;
    mainProgram = "lifeboat";
    platforms = lib.platforms.linux;
  };
}
