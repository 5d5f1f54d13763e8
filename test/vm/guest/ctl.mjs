// Control server of the Lifeboat VM lab. Runs in the guest (started by init.sh, port 8081, reached by
// the host through a QEMU hostfwd) so the test harness can read and change REAL guest state.
//   GET  /ping                         -> {uptime, hostid}
//   POST /run {cmd, timeoutMs?, input?} -> {rc, signal, stdout, stderr, ms}   (bash -c cmd, cwd /)
//   POST /poweroff                     -> {ok:true}; then this process ends and init.sh powers off
// No auth: it listens on the guest's user-net interface, which only the host's 127.0.0.1 forward reaches.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";

const PORT = Number(process.env.LAB_CTL_PORT ?? 8081);
const uptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);

function run({ cmd, timeoutMs = 300_000, input }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn("bash", ["-c", cmd], { cwd: "/", detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => err.push(b));
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
    let done = false;
    const finish = (rc, signal) => {
      if (done) return;
      done = true;
      clearTimeout(killer);
      clearTimeout(grace);
      resolve({
        rc,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: Date.now() - t0,
      });
    };
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, timeoutMs);
    let grace;
    // 'close' waits for stdio to end; a command that leaves a background job holding the pipes
    // would hang the call, so after the shell itself exits give the pipes 2 s, then answer anyway.
    child.on("exit", (code, signal) => {
      grace = setTimeout(() => finish(code ?? 128, signal), 2000);
    });
    child.on("close", (code, signal) => finish(code ?? 128, signal));
    child.on("error", (e) => {
      err.push(Buffer.from(String(e)));
      finish(127, null);
    });
  });
}

const server = http.createServer(async (req, res) => {
  const send = (status, body) => {
    const data = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
    res.end(data);
  };
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
    if (req.method === "GET" && req.url === "/ping") {
      const hostid = await run({ cmd: "hostid" });
      return send(200, { uptime: uptime(), hostid: hostid.stdout.trim() });
    }
    if (req.method === "POST" && req.url === "/run") {
      if (typeof body.cmd !== "string") return send(400, { error: "cmd missing" });
      return send(200, await run(body));
    }
    if (req.method === "POST" && req.url === "/poweroff") {
      res.on("finish", () => process.exit(0));
      return send(200, { ok: true });
    }
    send(404, { error: "not found" });
  } catch (e) {
    send(500, { error: String(e) });
  }
});
server.keepAliveTimeout = 1000;
server.listen(PORT, "0.0.0.0", () => console.log(`lab control server on :${PORT}, uptime ${uptime()}`));
