# Overlay on ../shared/nixcheck's stub package set: the nixpkgs attributes Lifeboat uses that the
# shared stubs lack, under their real nixos-25.11 names (a wrong name must fail here as it would
# against real nixpkgs). Stubs are derivations that cannot be built; evaluation only.
final: prev:
let
  stub = prev.nixcheckStub;
  lib = final.lib;
  facts = lib.importJSON ../nixos/lifeboat-facts.json;
in
{
  dosfstools = stub "dosfstools-stub" { };
  e2fsprogs = stub "e2fsprogs-stub" { };
  btrfs-progs = stub "btrfs-progs-stub" { };
  xfsprogs = stub "xfsprogs-stub" { };
  kmod = stub "kmod-stub" { };
  # pkgs/by-name/md/mdadm (mdadm), pkgs/os-specific/linux/lvm2 (lvm2: bin/lvm and its links).
  mdadm = stub "mdadm-stub" { };
  lvm2 = stub "lvm2-stub" { };
  systemd = stub "systemd-stub" { };
  curl = stub "curl-stub" { meta.mainProgram = "curl"; };
  jq = stub "jq-stub" { meta.mainProgram = "jq"; };
  nixos-enter = stub "nixos-enter-stub" { meta.mainProgram = "nixos-enter"; };
  # pkgs/top-level/all-packages.nix: git without GUI, Perl/Python extras (the diagnosis runs `git log`).
  gitMinimal = stub "git-minimal-stub" { meta.mainProgram = "git"; };
  # pkgs/by-name/bu/bubblewrap: bin/bwrap, the jail for programs given disk data (agent/src/system/jail.ts).
  bubblewrap = stub "bubblewrap-stub" { meta.mainProgram = "bwrap"; };
  # pkgs/by-name/ni/nixos-rebuild-ng: `withNgSuffix` decides the command name.
  nixos-rebuild-ng = final.callPackage (
    {
      withNgSuffix ? true,
    }:
    let
      exe = if withNgSuffix then "nixos-rebuild-ng" else "nixos-rebuild";
    in
    stub "${exe}-stub" { meta.mainProgram = exe; }
  ) { };
  nixfmt-tree = stub "nixfmt-tree-stub" { meta.mainProgram = "treefmt"; };

  # checks.iso-boots-*: QEMU as nixos/lib/qemu-common.nix uses it, OVMF (pkgs/applications/virtualization/OVMF:
  # `firmware` and `variables` are paths of the fd files), linkFarm (trivial builders: list of
  # { name; path; }).
  qemu_test = stub "qemu-test-stub" { };
  ipxe = stub "ipxe-stub" { };
  OVMF = stub "OVMF-stub" { } // {
    firmware = "${stub "OVMF-stub-fd" { }}/FV/OVMF_CODE.fd";
    variables = "${stub "OVMF-stub-fd" { }}/FV/OVMF_VARS.fd";
  };
  linkFarm =
    name: entries:
    assert lib.assertMsg (builtins.isList entries && builtins.all (e: e ? name && e ? path) entries)
      "linkFarm: entries must be a list of { name; path; }";
    stub name { paths = map (e: e.path) entries; };

  # pkgs/build-support/trivial-builders: runCommand name env buildCommand = a stdenv derivation of
  # `env` with that buildCommand (so passthru and meta work as in nixpkgs, and check.sh's bash -n
  # sees the script).
  runCommand =
    name: env: buildCommand:
    final.stdenvNoCC.mkDerivation ({ inherit name buildCommand; } // env);

  # packages.kexec: static kexec and ip for the tarball; iso/carry.nix: grep.
  gnugrep = stub "gnugrep-stub" { };
  gawk = stub "gawk-stub" { };
  diffutils = stub "diffutils-stub" { };
  grub2 = stub "grub-stub" { };
  pkgsStatic = (prev.pkgsStatic or { }) // {
    kexec-tools = stub "kexec-tools-static-stub" { };
    # pkgs/os-specific/linux/iproute/default.nix: callPackage'd with these arguments (facts:
    # packages."pkgsStatic.iproute2"), so `.override { iptables = null; }` works and a wrong
    # argument name fails as in nixpkgs.
    iproute2 = lib.makeOverridable (
      {
        iptables,
        db,
        libmnl,
        python3,
        elfutils,
        libbpf,
      }:
      # buildInputs in the derivation, so that the override changes it as it does in nixpkgs
      final.stdenv.mkDerivation {
        pname = "iproute2-static";
        version = facts.packages."pkgsStatic.iproute2".value;
        buildInputs = [
          db
          iptables
          libmnl
          python3
        ];
      }
    ) (lib.genAttrs facts.packages."pkgsStatic.iproute2".args (n: stub "${n}-static-stub" { }));
  };

  # ZFS and the default kernel at the pin (facts: ../nixpkgs-facts/nixos-25.11.json `packages`).
  # pkgs/os-specific/linux/zfs/generic.nix: the userland names the kernel module attribute of its
  # series; the kernel module is meta.broken for kernels outside `kernelCompatible`.
  zfs = stub "zfs-user-${facts.packages."zfs.version".value}" {
    version = facts.packages."zfs.version".value;
    kernelModuleAttribute = "zfs_2_3";
  };
  linuxPackages = final.linuxPackagesFor (
    stub "linux-${facts.packages."linuxPackages.kernel.version".value}" {
      version = facts.packages."linuxPackages.kernel.version".value;
    }
  );
  # linuxKernel.packagesFor: a kernel's module set (only what the stubs need: zfs_2_3).
  linuxPackagesFor =
    kernel:
    let
      k = kernel // {
        kernelOlder = v: builtins.compareVersions kernel.version v < 0;
        kernelAtLeast = v: builtins.compareVersions kernel.version v >= 0;
      };
      zfs_2_3 = stub "zfs-kernel-${final.zfs.version}-${kernel.version}" {
        meta.broken = !(k.kernelOlder facts.packages."zfs_2_3.kernelOlder".value);
      };
    in
    {
      kernel = k;
      inherit zfs_2_3;
      # The shared stub's name for the module, kept for projects that read it.
      zfs = zfs_2_3;
    };

  mkShell =
    {
      packages ? [ ],
      ...
    }@args:
    assert lib.assertMsg (builtins.all lib.isDerivation packages) "mkShell: packages must be derivations";
    stub (args.name or "nix-shell") { };

  writeShellApplication =
    {
      name,
      text,
      runtimeInputs ? [ ],
      ...
    }:
    assert lib.assertMsg (builtins.all lib.isDerivation runtimeInputs) "writeShellApplication: runtimeInputs must be derivations";
    stub name {
      inherit text;
      meta.mainProgram = name;
    };

  # testers.runNixOSTest: evaluates the test module like the real one at the level the stubs
  # allow: `name`, `testScript` (string, or function of { nodes }) and every node as a NixOS system
  # through the stub lib.nixosSystem with the recorded qemu-vm.nix (so unknown options, type
  # errors and failed assertions in nodes fail), then returns a stub derivation.
  testers = (prev.testers or { }) // {
    runNixOSTest =
      test:
      let
        evaluated = lib.evalModules {
          modules = [
            test
            {
              options = {
                name = lib.mkOption { type = lib.types.str; };
                nodes = lib.mkOption {
                  type = lib.types.attrsOf lib.types.deferredModule;
                  default = { };
                };
                testScript = lib.mkOption {
                  type = lib.types.either lib.types.str (lib.types.functionTo lib.types.str);
                };
              };
              config._module.args = {
                pkgs = final;
                hostPkgs = final;
              };
            }
          ];
        };
        t = evaluated.config;
        nodes = lib.mapAttrs (
          _: node:
          (lib.nixosSystem {
            modules = [
              node
              { nixpkgs.hostPlatform = final.system; }
              # nixos/lib/testing imports qemu-vm.nix into every node (root file system, GRUB device)
              ../nixos/modules/virtualisation/qemu-vm.nix
            ];
          }).config
        ) t.nodes;
        script = if builtins.isFunction t.testScript then t.testScript { inherit nodes; } else t.testScript;
        toplevels = lib.mapAttrs (_: n: n.system.build.toplevel.drvPath) nodes;
      in
      builtins.deepSeq [
        toplevels
        script
      ] (stub "vm-test-run-${t.name}" { testScript = script; });
  };
}
