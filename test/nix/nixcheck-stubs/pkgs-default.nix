# Installed by test/nix/flake.test.ts as fake-nixpkgs/pkgs/default.nix of a staged copy of
# ../shared/nixcheck: the shared stub package set (renamed nixcheck-base.nix) with ./pkgs.nix
# (copied as lifeboat-stubs.nix) applied first.
args@{
  overlays ? [ ],
  ...
}:
import ./nixcheck-base.nix (args // { overlays = [ (import ./lifeboat-stubs.nix) ] ++ overlays; })
