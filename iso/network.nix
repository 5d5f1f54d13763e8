# Reachability of the live system: DHCP on every wired link (see below) and mDNS, so that the agent answers at
# http://lifeboat.local:8080/ and shows up as an `_http._tcp` service in mDNS browsers.
{ config, lib, ... }:
let
  cfg = config.services.lifeboat;
in
{
  # Not mkDefault: NixOS tests give every node a default host name, and the name is what mDNS
  # announces (avahi renames it lifeboat-2.local etc. if two sticks share a LAN).
  networking.hostName = "lifeboat";

  # DHCP on every wired link comes from the installer profile: on 25.11 installation-device.nix
  # enables NetworkManager, whose default profiles ask DHCP (and IPv6 RA) on every ethernet link,
  # and whose module sets networking.useDHCP = false. Setting useDHCP here would conflict with that
  # definition ("conflicting definition values"). Without the installer profile (the module on
  # its own), NixOS' default networking.useDHCP = true runs dhcpcd on every interface instead.

  services.avahi = {
    enable = true;
    # Publish A/AAAA records for lifeboat.local on every interface.
    publish = {
      enable = true;
      addresses = true;
    };
    # Lets the console resolve other hosts' .local names too (e.g. to copy data to a NAS).
    nssmdns4 = true;
    openFirewall = true;

    # DNS-SD: the web UI appears in service browsers (avahi-browse, Bonjour) as "Lifeboat on <host>".
    extraServiceFiles.lifeboat = lib.mkIf cfg.enable ''
      <?xml version="1.0" standalone="no"?>
      <!DOCTYPE service-group SYSTEM "avahi-service.dtd">
      <service-group>
        <name replace-wildcards="yes">Lifeboat on %h</name>
        <service>
          <type>_http._tcp</type>
          <port>${toString cfg.port}</port>
          <txt-record>path=/</txt-record>
        </service>
      </service-group>
    '';
  };
}
