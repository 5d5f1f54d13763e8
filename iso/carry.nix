# Take over what the previous system carried into this boot: the kexec tarball's run script
# (./kexec/run.sh) and the ESP entry's `lifeboat rescue-reboot` (./rescue-entry/reboot.sh) put a
# `lifeboat-carry/` directory (./carry/lib.sh)
# (fresh token, root's SSH keys, the network configuration) into an extra initramfs after the
# rescue initrd. Stage 1 copies it to /run (a tmpfs, moved into the system at switch-root, never on
# a disk); lifeboat-carry.service hands it to the agent, sshd and NetworkManager before they start.
# Without that directory (booted from the stick or the network) nothing of this runs.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.lifeboat;
  restore = pkgs.writeShellScript "lifeboat-carry-restore" (builtins.readFile ./carry/restore.sh);
in
{
  config = lib.mkIf cfg.enable {
    assertions = [
      {
        # The copy below is a scripted-stage-1 hook; the systemd initrd has no postMountCommands.
        assertion = !config.boot.initrd.systemd.enable;
        message = "Lifeboat's carry-over (kexec, ESP entry) needs the scripted stage 1 (boot.initrd.systemd.enable = false).";
      }
    ];

    # Stage 1 unpacked the extra archive into its own root; its /run becomes the system's /run.
    # (Only for the scripted stage 1: systemd/initrd.nix refuses postMountCommands, and the
    # assertion above says why.)
    boot.initrd.postMountCommands = lib.mkIf (!config.boot.initrd.systemd.enable) ''
      if [ -d /lifeboat-carry ]; then
        mkdir -p /run/lifeboat-carry
        chmod 0700 /run/lifeboat-carry
        cp -R /lifeboat-carry/. /run/lifeboat-carry/
      fi
    '';

    systemd.services.lifeboat-carry = {
      description = "Take over the token, SSH keys and network configuration carried into this boot";
      wantedBy = [ "multi-user.target" ];
      before = [
        "lifeboat.service"
        "NetworkManager.service"
        "sshd.service"
        "network-pre.target"
      ];
      wants = [ "network-pre.target" ];
      unitConfig.ConditionPathIsDirectory = "/run/lifeboat-carry";
      path = [
        pkgs.jq
        pkgs.coreutils
        pkgs.gnugrep
      ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
        ExecStart = "${restore} /run/lifeboat-carry ${cfg.tokenFile} /root/.ssh /run/NetworkManager/system-connections";
      };
    };
  };
}
