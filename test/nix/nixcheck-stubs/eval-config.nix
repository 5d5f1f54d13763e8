# Installed by test/nix/flake.test.ts as fake-nixpkgs/nixos/lib/eval-config.nix of a staged copy of
# ../shared/nixcheck: the shared stub (renamed eval-config-base.nix) with ./nixos.nix (copied as
# modules/lifeboat-stubs.nix) added to the base modules.
args:
import ./eval-config-base.nix (
  args
  // {
    baseModules = (args.baseModules or [ ../modules/nixcheck-stubs.nix ]) ++ [
      ../modules/lifeboat-stubs.nix
    ];
  }
)
