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
      # Not after network-online.target: the token must be on the console within seconds even
      # without a link; the timer redraws the banner when addresses arrive.
      after = [ "lifeboat.service" ];
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
        # First try 3 s after boot reaches timers.target, then every 10 s: the token appears as
        # soon as the agent has written it, and new addresses show up within 10 s.
        OnActiveSec = "3s";
        OnUnitActiveSec = "10s";
        AccuracySec = "1s";
      };
    };
  };
}
