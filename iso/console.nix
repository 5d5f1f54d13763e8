# What a person at the machine sees: the getty help line, and the agent's URLs, token and a QR code
# of the URL (printed by `lifeboat banner`) on tty1 and above every login prompt.
#
# Why a timer-driven oneshot that writes /etc/issue.d and /dev/tty1, and not just a help line:
# the URLs depend on the addresses DHCP hands out (possibly late, possibly changing) and the token
# exists only once the agent has started, while services.getty.helpLine is fixed at build time.
# agetty prints /etc/issue.d/*.issue after /etc/issue each time it shows a login prompt, so every
# console the user switches to shows the current banner. tty1 is already auto-logged-in by the
# installer profile, so the banner is also printed there directly, but only when it changed.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.lifeboat;
  showBanner = pkgs.writeShellScript "lifeboat-console-banner" (builtins.readFile ./console-banner.sh);
in
{
  config = lib.mkIf cfg.enable {
    services.getty.helpLine = lib.mkAfter ''

      Lifeboat ${cfg.package.version or ""} rescue system. The rescue agent serves its web UI and API
      on port ${toString cfg.port} (http://lifeboat.local:${toString cfg.port}/ on the local network).
      Its addresses, access token and a QR code follow; `sudo lifeboat banner` prints them again,
      `journalctl -u lifeboat` shows what the agent did.
    '';

    systemd.services.lifeboat-banner = {
      description = "Show the Lifeboat URLs, token and QR code on the consoles";
      after = [
        "lifeboat.service"
        "network-online.target"
      ];
      wants = [ "network-online.target" ];
      path = [
        cfg.package
        pkgs.util-linux # agetty --reload
        pkgs.coreutils
      ];
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${showBanner} ${cfg.tokenFile} ${toString cfg.port}";
        # Remembers the last banner so that tty1 only gets a new one when something changed.
        RuntimeDirectory = "lifeboat-console";
        RuntimeDirectoryMode = "0700";
        RuntimeDirectoryPreserve = "yes";
        UMask = "0077";
      };
    };

    systemd.timers.lifeboat-banner = {
      description = "Refresh the Lifeboat console banner when addresses change";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnActiveSec = "5s";
        OnUnitActiveSec = "20s";
        AccuracySec = "1s";
      };
    };
  };
}
