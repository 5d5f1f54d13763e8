// The baseline: a fastify hello-world on the same machine, same node, same loopback.
import Fastify from "fastify";

const port = Number(process.argv[2]);
const app = Fastify({ logger: false });
app.get("/", async () => ({ hello: "world" }));
await app.listen({ host: "127.0.0.1", port });
process.stdout.write("ready\n");
