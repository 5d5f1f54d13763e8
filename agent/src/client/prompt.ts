import { createInterface } from "node:readline";

/** One line from a non-terminal stdin (scripts pipe the passphrase or token in). */
async function readLine(input: NodeJS.ReadableStream): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return "";
}

/** Asks on stderr and reads without echo (terminal), or one line from piped stdin. */
export async function promptSecret(question: string): Promise<string> {
  const { stdin, stderr } = process;
  stderr.write(question);
  if (!stdin.isTTY) {
    const line = await readLine(stdin);
    stderr.write("\n");
    return line;
  }
  return new Promise((resolve, reject) => {
    let s = "";
    const done = () => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === "\r" || c === "\n") {
          done();
          resolve(s);
          return;
        }
        if (c === "\u0003" || c === "\u0004") {
          done();
          reject(new Error("cancelled"));
          return;
        }
        if (c === "\u007f" || c === "\b") s = s.slice(0, -1);
        else s += c;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    stdin.on("data", onData);
    stdin.resume();
  });
}

/** y/N question on a terminal; false without one. */
export async function promptYesNo(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
