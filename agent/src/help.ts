/**
 * The command-line help texts (lifeboat, lifeboat client, lifeboat collect, lifeboat banner), in one
 * module: agent/build.mjs keeps them in the bundle compressed, like the web page and the OpenAPI
 * document, and replaces this module with one that unpacks them when one is first printed.
 */
export const HELP_TEXTS = {
  agent: `lifeboat — rescue agent for NixOS on ZFS

Usage: lifeboat [options]
       lifeboat banner [--token-file F] [--port N] [--tls-dir D] [--no-qr] [--watch]
       lifeboat client --host ADDR[:PORT] COMMAND   (lifeboat client --help)
       lifeboat client --hosts FILE|COLLECTOR-URL COMMAND   (the same on many servers)
       lifeboat collect --listen HOST:PORT --keys FILE   (lifeboat collect --help)

Options (each also as LIFEBOAT_<NAME> in the environment, and as lifeboat.<name>=… on the kernel command line):
  --listen HOST:PORT     where the HTTP API listens            (default 0.0.0.0:8080)
  --root DIR             where the installed system is mounted (default /mnt)
  --token-file FILE      API token; generated (0600) if missing (default /run/lifeboat/token)
  --auto-mount MODE      off | readonly | readwrite            (default off)
  --log-level LEVEL      fatal|error|warn|info|debug|trace     (default info)
  --tls [on|off]         also serve HTTPS on the same port, self-signed (default off)
  --tls-dir DIR          where the certificate and key are kept (default /run/lifeboat/tls)
  --callback URL         phone home: POST signed reports to this collector URL (https)
  --callback-token-file F  key the reports are signed with (default: the API token)
  --callback-fingerprint SHA256  pin the collector's self-signed certificate
  --metrics-token-file F read-only token for GET /metrics (besides the API token)
  --advertise URL        the URL to reach this agent at, in reports (behind NAT / port forwarding)
  --name NAME            this server's name in the fleet (e.g. from the PXE server)
  -h, --help             this text
  -V, --version          print the version

Precedence: command-line flag > kernel command line (lifeboat.*) > LIFEBOAT_* environment > default.
Kernel command line keys: lifeboat.listen, lifeboat.root, lifeboat.token, lifeboat.tokenfile, lifeboat.automount, lifeboat.loglevel, lifeboat.tls, lifeboat.tlsdir,
  lifeboat.callback, lifeboat.callbackToken, lifeboat.callbackFingerprint, lifeboat.metricsToken, lifeboat.advertise, lifeboat.name.
`,
  client: `lifeboat client — use a Lifeboat agent from another machine

Usage: lifeboat client --host ADDR[:PORT] [--token T] [--fingerprint SHA256] [--json] [--yes] COMMAND
       lifeboat client --hosts FILE|COLLECTOR-URL [--concurrency N] [--token-file F] [--json] [--yes] COMMAND

Commands:
  status                         what was found, what is mounted, warnings
  diagnose [--apply N]           which generation last booted, what changed, the fixes (N: send fix N)
           [--console FILE]      first give it the console text of the failed boot (a serial log)
  changes                        what this rescue changed: where, the snapshot before it, how to undo
  disks | pools                  block devices; pools with their state
  mount [--rw] [--force] [--pool P] [--accept-skipped]   show the plan, confirm, mount (read-only
                                 unless --rw); entries that cannot be mounted safely are skipped and
                                 listed; --rw needs them acknowledged (asked, or --accept-skipped)
  unmount [--export]             unmount (and export the pools)
  unlock POOL                    load the key of an encrypted pool (passphrase prompt)
  generations                    NixOS generations
  boot                           boot loader entries
  boot default N                 boot generation N by default
  kernel-params ENTRY|default [--add P]… [--remove P]…   edit a boot entry's kernel parameters
  config [ls] | config get PATH | config edit PATH   /etc/nixos files ($EDITOR for edit)
  rebuild [--build] [--flake F]  nixos-rebuild boot (or build); streams the log; exit code = the job's
  jobs | log JOB                 jobs; the log of one (to stdout)
  journal [--boot -1] [--priority P] [--unit U] [--limit N]   the installed system's journal
  snapshots | snapshot           list; take one now
  export | reboot                hand the pools back; export and restart the machine

The token: --token, else LIFEBOAT_TOKEN, else a prompt (input hidden). --token is visible to other
users in the process list: prefer the environment or the prompt. With --fingerprint the connection
is HTTPS, pinned to that certificate (shown on the console). Changes show what they will do and ask;
--yes answers for scripts (needed without a terminal).

Many servers: --hosts FILE (one per line: ADDR[:PORT]|URL [name=N] [token=T] [fingerprint=F]) or
--hosts http(s)://COLLECTOR:9180 (its fleet list; LIFEBOAT_COLLECTOR_TOKEN if it has a read token,
--collector-fingerprint to pin it). The command runs on every server, --concurrency at a time
(default 8); changes are a DRY RUN showing each server's plan or diff, --yes applies them. Per-server
tokens: token= in the file, else the one among --token-file (one per line) that the server reports
holding, else --token / LIFEBOAT_TOKEN. Exit code 1 if any server failed.
`,
  collect: `lifeboat collect — receive the fleet's phone-home reports

Usage: lifeboat collect --keys FILE [--listen HOST:PORT] [--state FILE] [--file-sd FILE]
                        [--read-token-file FILE] [--tls] [--tls-dir DIR] [--log-level LEVEL]

  --keys FILE            keys the reports may be signed with, one per line (# comments): the
                         fleet's lifeboat.callbackToken, or the API tokens your PXE server hands out
  --listen HOST:PORT     where to listen (default 0.0.0.0:9180)
  --state FILE           the fleet list, kept on disk (default ./lifeboat-fleet.json)
  --file-sd FILE         also write a Prometheus file_sd document there
  --read-token-file F    reading the fleet (page, /v1/fleet, /v1/sd) needs this bearer token
  --tls                  also serve HTTPS (self-signed; agents pin it: lifeboat.callbackFingerprint)
  --tls-dir DIR          where its certificate is kept (default ./lifeboat-collector-tls)

Agents report to  POST /v1/report   (lifeboat.callback=https://<this host>:9180/v1/report)
Read the fleet at GET /             (the fleet page), GET /v1/fleet (JSON), GET /v1/sd (Prometheus http_sd)
`,
  banner: `Usage: lifeboat banner [--token-file F] [--port N | --listen HOST:PORT] [--tls-dir D] [--no-qr] [--watch]

Prints the console banner: the agent's URLs on every non-loopback address, the access token, the
HTTPS fingerprint (when the agent runs with --tls) and a QR code of the first URL with the token.
--watch redraws it (clearing the screen) whenever the addresses or the token change; for tty1.
`,
};

export type HelpName = keyof typeof HELP_TEXTS;

/** One help text, as printed by `--help` (and on a usage error). */
export const help = (name: HelpName): string => HELP_TEXTS[name];
