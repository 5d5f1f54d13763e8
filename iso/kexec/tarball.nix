# packages.kexec: lifeboat-kexec-<version>-x86_64-linux.tar.gz, to start the rescue system from any
# running x86_64 Linux with kexec: `tar xzf … && ./lifeboat-kexec/run` as root (see ./run.sh).
# Holds the netboot system's kernel and initrd (the whole rescue system, in RAM), its kernel command
# line, the run script, and static kexec and ip binaries so the running system needs neither.
{
  lib,
  stdenv,
  runCommand,
  pkgsStatic,
  # the evaluated netboot system (nixosConfigurations.lifeboat-netboot.config)
  netboot,
}:
let
  inherit (lib.importJSON ../../package.json) version;
  build = netboot.system.build;
  kernelFile = netboot.system.boot.loader.kernelFile;
  cmdline = "init=${build.toplevel}/init ${toString netboot.boot.kernelParams}";
  # nixpkgs.system throws once nixpkgs.hostPlatform is set (nixos/modules/misc/nixpkgs.nix); the
  # package set this is called with is the netboot system's own.
  name = "lifeboat-kexec-${version}-${stdenv.hostPlatform.system}";
  # `ip` needs no iptables; nix-community/nixos-images builds its kexec tarball's ip this way ("does
  # not link with iptables enabled"). iptables is an argument of nixpkgs' iproute2
  # (pkgs/os-specific/linux/iproute/default.nix), whose static build nixpkgs itself tests.
  iproute2Static = pkgsStatic.iproute2.override { iptables = null; };
in
runCommand "${name}.tar.gz"
  {
    passthru = { inherit cmdline; };
    meta.description = "Lifeboat rescue system as a kexec tarball";
  }
  ''
    d=$TMPDIR/lifeboat-kexec
    mkdir -p "$d"
    cp ${build.kernel}/${kernelFile} "$d/bzImage"
    cp ${build.netbootRamdisk}/initrd "$d/initrd"
    # A multiple of 4 bytes, so that an archive appended as it is still lands where the kernel looks
    # (run.sh pads by itself too: carry_initrd).
    chmod u+w "$d/initrd"
    truncate --size=%4 "$d/initrd"
    printf '%s\n' ${lib.escapeShellArg cmdline} >"$d/cmdline"
    install -m 0755 ${./run.sh} "$d/run"
    install -m 0644 ${../carry/lib.sh} "$d/carry-lib.sh"
    install -m 0755 ${pkgsStatic.kexec-tools}/bin/kexec "$d/kexec"
    install -m 0755 ${iproute2Static}/bin/ip "$d/ip"
    tar -C "$TMPDIR" --owner=0 --group=0 --mtime=@1 --sort=name -czf "$out" lifeboat-kexec
  ''
