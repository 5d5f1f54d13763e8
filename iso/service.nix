# services.lifeboat: run the Lifeboat rescue agent as a systemd service.
# This is `nixosModules.default`; the ISO (image.nix) enables it with auto-mount read-only.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.lifeboat;
  inherit (lib) mkOption types;

  # Runtime paths (the token is a secret): absolute strings, never Nix paths, which would be copied
  # into the world-readable store.
  runtimePath = types.pathWith {
    inStore = false;
    absolute = true;
  };

  # "[::]:8080" / "0.0.0.0:8080": IPv6 literals are bracketed, as in URLs.
  listenAddress =
    if lib.hasInfix ":" cfg.listen then "[${cfg.listen}]:${toString cfg.port}" else "${cfg.listen}:${toString cfg.port}";
in
{
  # services.lifeboat.rescueEntry: the rescue system as a boot entry on this machine's ESP.
  imports = [ ./rescue-entry.nix ];

  options.services.lifeboat = {
    enable = lib.mkEnableOption "Lifeboat, the rescue agent that detects, imports and mounts an installed NixOS system and serves an HTTP API";

    package = mkOption {
      type = types.package;
      # Built from this repository's committed bundle with the system's own nixpkgs. Its zfs
      # userland is the one whose kernel module the system loads.
      default = pkgs.callPackage ./package.nix { zfs = config.boot.zfs.package; };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { zfs = config.boot.zfs.package; }";
      description = "The Lifeboat agent package (a `lifeboat` executable wrapping the bundle with its tools).";
    };

    listen = mkOption {
      type = types.str;
      default = "::";
      example = "0.0.0.0";
      description = ''
        Address the HTTP API listens on. `::` accepts IPv6 and IPv4 connections on every interface
        (the rescue medium is reached through whatever address DHCP gave it).
      '';
    };

    port = mkOption {
      type = types.port;
      default = 8080;
      description = "TCP port of the HTTP API and web UI.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to open {option}`services.lifeboat.port` in the firewall.";
    };

    autoMount = mkOption {
      type = types.enum [
        "off"
        "readonly"
        "readwrite"
      ];
      default = "off";
      description = ''
        What the agent does at start when it finds an installed system: nothing (`off`), import its
        pool read-only and mount it under {option}`services.lifeboat.root` (`readonly`), or the same
        read-write (`readwrite`). The kernel command line `lifeboat.automount=` overrides it.
      '';
    };

    tokenFile = mkOption {
      type = runtimePath;
      default = "/run/lifeboat/token";
      description = ''
        File holding the API bearer token. If it is missing at start, the agent generates a token
        and writes it there with mode 0600. The kernel command line `lifeboat.token=` overrides it.
      '';
    };

    root = mkOption {
      type = runtimePath;
      default = "/mnt";
      description = "Where the installed system is mounted.";
    };

    tls = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Also serve HTTPS on the same port, with a self-signed certificate generated at first start
        and kept in {file}`/run/lifeboat/tls`. Its SHA-256 fingerprint is shown on the console
        banner and in `/v1/status`; `lifeboat client --fingerprint` pins it. Plain HTTP stays
        available (a rescue medium has no certificate a browser would trust). The kernel command
        line `lifeboat.tls=on|off` overrides it.
      '';
    };

    callback = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://collector.example:9180/v1/report";
      description = ''
        Phone home: POST a signed JSON report of the rescue's state to this URL (a
        `lifeboat collect` collector) once the agent has an address and after each change of phase.
        Reports carry an HMAC made with the API token (or with `lifeboat.callbackToken=` from the
        kernel command line), never the token itself. The kernel command line
        `lifeboat.callback=` overrides it.
      '';
    };

    logLevel = mkOption {
      type = types.enum [
        "trace"
        "debug"
        "info"
        "warn"
        "error"
        "fatal"
      ];
      default = "info";
      description = "Minimum level of the agent's JSON log lines (they go to the journal).";
    };
  };

  config = lib.mkIf cfg.enable {
    warnings = lib.optional (!(config.boot.supportedFilesystems.zfs or false)) ''
      services.lifeboat is enabled without ZFS support (boot.supportedFilesystems.zfs): the agent
      cannot import pools on this system.
    '';

    # `lifeboat banner` and friends for whoever is at the console.
    environment.systemPackages = [ cfg.package ];

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];

    systemd.services.lifeboat = {
      description = "Lifeboat rescue agent";
      wantedBy = [ "multi-user.target" ];
      # No ordering after network-online.target: on a server without a link it is reached only when
      # its wait times out (NetworkManager-wait-online: 30 s and more), and the console must show the
      # token within seconds. The agent listens on the wildcard address and picks up addresses as
      # they come (the banner refreshes on its own timer).

      environment = {
        LIFEBOAT_LISTEN = listenAddress;
        LIFEBOAT_ROOT = cfg.root;
        LIFEBOAT_TOKEN_FILE = cfg.tokenFile;
        LIFEBOAT_AUTO_MOUNT = cfg.autoMount;
        LIFEBOAT_LOG_LEVEL = cfg.logLevel;
        LIFEBOAT_TLS = if cfg.tls then "on" else "off";
      }
      // lib.optionalAttrs (cfg.callback != null) { LIFEBOAT_CALLBACK = cfg.callback; };

      # systemd's default start limit (5 starts in 10 s) would leave the unit failed for good.
      unitConfig.StartLimitIntervalSec = 0;

      serviceConfig = {
        # The wrapper sets PATH to exactly the packages of the commands the agent runs
        # (./agent-commands.json); the unit adds nothing to it.
        ExecStart = lib.getExe cfg.package;
        # Root on purpose: it imports pools, mounts file systems, enters the installed system and
        # adopts a pool's hostid (writes /etc/hostid and /sys/module/spl/parameters/spl_hostid).
        User = "root";
        # A rescue agent that is down is a rescue that failed: restart whatever the exit status, and
        # never stop trying (unitConfig.StartLimitIntervalSec = 0 below).
        Restart = "always";
        RestartSec = "2s";
        # /run/lifeboat holds the generated token. Keeping it across restarts keeps the token the
        # user already copied valid after a crash; it is gone at reboot (tmpfs).
        RuntimeDirectory = "lifeboat";
        RuntimeDirectoryMode = "0700";
        RuntimeDirectoryPreserve = "yes";
        UMask = "0077";
        # JSON lines on stdout; journald keeps them (`journalctl -u lifeboat`).
        StandardOutput = "journal";
        StandardError = "journal";
        SyslogIdentifier = "lifeboat";
      };
    };
  };
}
