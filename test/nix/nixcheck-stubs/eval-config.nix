# Installed by test/nix/flake.test.ts as fake-nixpkgs/nixos/lib/eval-config.nix of a staged copy of
# ../shared/nixcheck: the shared stub (renamed eval-config-base.nix) with two more base modules:
# ./nixos.nix (copied as modules/lifeboat-stubs.nix: option declarations the shared stubs lack) and
# the declarations and always-imported modules recorded in ../nixpkgs-facts (./facts-module.nix).
args:
import ./eval-config-base.nix (
  args
  // {
    baseModules = (args.baseModules or [ ../modules/nixcheck-stubs.nix ]) ++ [
      ../modules/lifeboat-stubs.nix
      (import ../modules/lifeboat-facts-module.nix { declarations = true; })
    ];
  }
)
