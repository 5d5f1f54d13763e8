// npm run demo: boot scenario 1 (the seed's broken server) and leave the agent reachable on
// http://127.0.0.1:18080 (LIFEBOAT_DEMO_PORT) until Ctrl-C. Run through ./demo (bundled with esbuild).
import { boot, ensureDiskSet, log, signals, timingReport, type Vm } from "./lab.js";

const port = Number(process.env.LIFEBOAT_DEMO_PORT ?? 18080);

async function main() {
  let vm: Vm | undefined;
  let stopping = false;
  signals.onSignal = (sig) => {
    if (stopping || !vm) {
      vm?.kill();
      process.exit(130);
    }
    stopping = true;
    log(`${sig}: powering the guest off (again to kill it)`);
    vm.shutdown({ collectLogs: false, timeoutMs: 30_000 }).then(() => process.exit(0));
  };
  const set = await ensureDiskSet("single");
  vm = await boot({ name: "demo", diskSet: set, apiPort: port });
  const url = vm.apiUrl;
  const t = vm.token;
  process.stdout.write(`
Lifeboat demo: a NixOS-on-ZFS server (pool nvmepool, last used by host "atlas") booted into the
rescue agent under QEMU. The agent auto-mounts the installed system read-only at /mnt.

  API    ${url}
  token  ${t}

  curl ${url}/healthz
  curl -H 'Authorization: Bearer ${t}' ${url}/v1/status
  curl -H 'Authorization: Bearer ${t}' ${url}/v1/pools
  curl -H 'Authorization: Bearer ${t}' -H 'content-type: application/json' -d '{"readonly":false}' ${url}/v1/mount

Agent log: ${vm.logsDir}/agent.log   console: ${vm.consoleLog}
Ctrl-C powers the guest off (the disks are throw-away overlays).

${timingReport()}
`);
  await vm.exited;
  log("guest is off");
}

main().catch((e) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
