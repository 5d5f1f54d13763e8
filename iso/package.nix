# The Lifeboat agent: the committed esbuild bundle run by Node 22, with a PATH that holds exactly
# the packages of the commands it runs (./agent-commands.json, checked against agent/src by
# test/nix/agent-commands.test.ts). No npm dependency hash is needed: `npm test` fails when
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
  mdadm,
  lvm2,
  coreutils,
  systemd,
  nixos-enter,
  gitMinimal,
  bubblewrap,
}:
let
  packageJson = lib.importJSON ../package.json;
  commands = lib.importJSON ./agent-commands.json;

  # The packages ./agent-commands.json may name. The NixOS module passes boot.zfs.package as `zfs`,
  # so the userland matches the kernel module the system loads.
  byName = {
    inherit
      zfs
      util-linux
      cryptsetup
      mdadm
      lvm2
      coreutils
      systemd
      nixos-enter
      gitMinimal
      bubblewrap
      ;
  };
  named =
    name:
    byName.${name} or (throw "iso/agent-commands.json names package `${name}`, which iso/package.nix does not take");
  runtimeTools = map named (
    lib.unique (
      map (c: c.package) (lib.attrValues commands.commands)
      ++ lib.attrValues (removeAttrs commands.helpers [ "about" ])
    )
  );
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
    # command -> package, as put on PATH (for tests and for people reading the closure)
    commands =
      lib.mapAttrs (_: c: named c.package) commands.commands
      // lib.mapAttrs (_: named) (removeAttrs commands.helpers [ "about" ]);
    nodejs = nodejs_22;
  };

  meta = {
    inherit (packageJson) description;
    license = lib.licenses.mit;
    mainProgram = "lifeboat";
    platforms = lib.platforms.linux;
  };
}
