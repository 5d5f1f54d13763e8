// The baseline: a fastify hello-world. bench/run.mjs bundles it with the agent's own esbuild
// options (agent/bundle-options.mjs) and the same fastify, and runs it like the agent.
import Fastify from "fastify";

const port = Number(process.argv[2]);
const app = Fastify();
app.get("/healthz", async () => ({ ok: true }));
await app.listen({ host: "127.0.0.1", port });
