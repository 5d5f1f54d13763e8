{
  description = "Lifeboat: a bootable rescue medium for NixOS servers on ZFS, with an HTTP API";

  # The only input. flake.lock pins the nixos-25.11 commit recorded in ../shared/nix.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # The ISO and the agent's tool set are x86_64-only for now.
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
    in
    {
      packages.${system} = {
        agent = pkgs.callPackage ./iso/package.nix { };
        iso = self.nixosConfigurations.lifeboat.config.system.build.isoImage;
        # bzImage, initrd and netboot.ipxe for a TFTP/HTTP server (README: Start it).
        netboot = self.nixosConfigurations.lifeboat-netboot.config.system.build.lifeboatNetboot;
        # lifeboat-kexec-<version>-x86_64-linux.tar.gz: start the rescue system from a running Linux.
        kexec = pkgs.callPackage ./iso/kexec/tarball.nix {
          netboot = self.nixosConfigurations.lifeboat-netboot.config;
        };
        default = self.packages.${system}.iso;
      };

      nixosModules = {
        # services.lifeboat; its package defaults to the agent built with the importing system's pkgs.
        default = ./iso/service.nix;
        # The rescue system itself (agent + ZFS + network + console banner + SSH), without an
        # image: every image below is this plus what only that image needs.
        rescue = ./iso/rescue.nix;
        # The whole rescue ISO (installer profile + rescue).
        iso = ./iso/image.nix;
        # The netboot system (kernel + initrd with everything; also what packages.kexec boots).
        netboot = ./iso/netboot.nix;
      };

      nixosConfigurations.lifeboat = lib.nixosSystem {
        modules = [
          self.nixosModules.iso
          { nixpkgs.hostPlatform = system; }
        ];
      };
      nixosConfigurations.lifeboat-netboot = lib.nixosSystem {
        modules = [
          self.nixosModules.netboot
          { nixpkgs.hostPlatform = system; }
        ];
      };

      checks.${system} =
        let
          # Boots the real ISO as CD and USB stick, BIOS and UEFI, next to a crashed server's disk
          # (needs KVM; see the file).
          isoBoots = import ./test/nix/iso-boots.nix {
            inherit pkgs lib;
            lifeboat = self.nixosConfigurations.lifeboat;
          };
          # packages.netboot over QEMU's TFTP + iPXE, BIOS and UEFI (needs KVM).
          netbootBoots = import ./test/nix/netboot-boots.nix {
            inherit pkgs lib;
            netboot = self.nixosConfigurations.lifeboat-netboot;
          };
        in
        isoBoots
        // netbootBoots
        // {
          # packages.kexec from a running NixOS, carrying its address over (needs KVM).
          kexec-boots = import ./test/nix/kexec-boots.nix {
            inherit pkgs;
            kexec = self.packages.${system}.kexec;
          };

          # All four boots.
          iso-boots = pkgs.linkFarm "lifeboat-iso-boots" (
            lib.mapAttrsToList (name: path: { inherit name path; }) isoBoots
          );

          # The module/package tests of test/nix/eval-check.nix against the real NixOS of the pin: every
          # test must pass and every expected failure must fail, for its reason: Nix cannot read an
          # error's text, so an expected failed assertion (`assertionsOf`) is compared by the
          # system's failed assertions, which must be exactly the one with the expected message (the
          # others fail by the module system, their text is compared offline by test/nix). They run
          # at evaluation time, so `nix flake check --no-build` runs them too.
          module-eval =
            let
              checks = import ./test/nix/eval-check.nix {
                inherit lib;
                nixcheck = {
                  inherit (lib) nixosSystem;
                  pkgsFor = { overlays ? [ ] }: import nixpkgs { inherit system overlays; };
                };
              };
              failures = lib.runTests checks.tests;
              names = lib.attrNames checks.expectFailure;
              notFailing = lib.filter (
                name: (builtins.tryEval (builtins.deepSeq checks.expectFailure.${name}.expr true)).success
              ) names;
              failedAssertions =
                cfg: map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
              wrongReason = lib.filter (
                name:
                let
                  c = checks.expectFailure.${name};
                  failed = failedAssertions c.assertionsOf;
                in
                c ? assertionsOf && !(lib.length failed == 1 && lib.hasInfix c.message (lib.head failed))
              ) names;
            in
            if failures == [ ] && notFailing == [ ] && wrongReason == [ ] then
              pkgs.runCommand "lifeboat-module-eval" { } "touch $out"
            else
              throw "test/nix/eval-check.nix: failed tests: ${lib.generators.toPretty { } failures}; evaluated although expected to fail: ${toString notFailing}; failed for another reason than expected: ${
                lib.concatMapStringsSep ", " (
                  n: "${n} (${lib.concatStringsSep " | " (failedAssertions checks.expectFailure.${n}.assertionsOf)})"
                ) wrongReason
              }";

          agent = self.packages.${system}.agent;
          # The ISO's system closure, without packing the image.
          system = self.nixosConfigurations.lifeboat.config.system.build.toplevel;
        };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          pkgs.nodejs_22
          # `npm run build` uses the esbuild pinned in package-lock.json (the committed bundle must
          # match it); this one is for ad-hoc use.
          pkgs.esbuild
          pkgs.zfs
          pkgs.nixfmt-tree
        ];
      };

      # `nix fmt`: nixfmt (RFC 166 style) over the whole tree.
      formatter.${system} = pkgs.nixfmt-tree;
    };
}
