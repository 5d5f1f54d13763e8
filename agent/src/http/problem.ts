import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { type ErrorCode, errorStatus, LifeboatError } from "../core/errors.js";

const TITLES: Partial<Record<ErrorCode, string>> = {
  unauthorized: "Missing or wrong API token",
  "rate-limited": "Too many failed attempts",
  "not-found": "Not found",
  "validation-failed": "Invalid request",
  busy: "Another operation is running",
  "wrong-passphrase": "Wrong passphrase",
  "pool-in-use-elsewhere": "Pool was last used by another system",
  "key-not-loaded": "Encryption key not loaded",
  "mount-failed": "Mount failed and was rolled back",
  "unmount-failed": "Unmount failed and was rolled back",
  "no-system-found": "No installed system found",
  "ambiguous-system": "Several systems found: say which",
  "pool-not-found": "No such pool",
  "pool-unavailable": "Pool cannot be imported",
  "pool-name-conflict": "A pool with that name is already imported",
  "pool-busy": "Pool is busy",
  "device-not-found": "No such device",
  "not-mounted": "Not imported or mounted yet",
  "read-only-mount": "Mounted read-only: re-mount read-write first",
  "target-busy": "In use by other processes",
  cancelled: "Stopped for a change of the mounts",
  "no-journal": "No persistent journal",
  "protected-kernel-param": "The system cannot boot without this kernel parameter",
  "zfs-unavailable": "ZFS is not available on the rescue system",
  "command-failed": "A system command failed",
  "command-timeout": "A system command timed out",
  "path-escape": "Path leaves the allowed directory",
  "unsafe-file": "Refused a file of the installed system (link, device node, FIFO or wrong type)",
  "file-too-large": "A file of the installed system is larger than allowed",
  "file-timeout": "A file operation on the installed system did not finish in time",
  "file-failed": "A file operation on the installed system failed",
  "payload-too-large": "Request body too large",
  "unsupported-media-type": "Unsupported media type",
  internal: "Internal error",
};

export function problemBody(
  code: ErrorCode,
  detail: string,
  instance: string,
  extras: Record<string, unknown> = {},
) {
  const status = errorStatus[code];
  return {
    ...extras,
    type: `urn:lifeboat:problem:${code}`,
    title: TITLES[code] ?? code.replace(/-/g, " "),
    status,
    detail,
    code,
    instance,
  };
}

export function sendProblem(
  reply: FastifyReply,
  req: FastifyRequest,
  code: ErrorCode,
  detail: string,
  extras: Record<string, unknown> = {},
) {
  const body = problemBody(code, detail, req.url.split("?")[0] ?? req.url, extras);
  if (code === "unauthorized") reply.header("www-authenticate", 'Bearer realm="lifeboat"');
  if (code === "rate-limited" && typeof extras.retryAfter === "number")
    reply.header("retry-after", String(extras.retryAfter));
  return reply.code(body.status).type("application/problem+json").send(body);
}

/** Every error leaves as problem+json with a stable code; internals are logged, never sent. */
export function errorHandler(
  err: FastifyError | LifeboatError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
) {
  if (err instanceof LifeboatError) {
    if (err.status >= 500) req.log.error({ code: err.code, detail: err.message }, "operation failed");
    return sendProblem(reply, req, err.code, err.message, err.extras);
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    return sendProblem(
      reply,
      req,
      "validation-failed",
      `${fe.validationContext ?? "request"} ${fe.validation.map((v) => `${v.instancePath || "/"} ${v.message}`).join("; ")}`,
      {
        errors: fe.validation.map((v) => ({ path: v.instancePath || "/", message: v.message ?? "invalid" })),
      },
    );
  }
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE")
    return sendProblem(reply, req, "payload-too-large", "request body too large");
  if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
    return sendProblem(reply, req, "unsupported-media-type", "send application/json");
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Malformed JSON, empty body with a JSON content type, bad headers…: say what, not where in our code.
    return sendProblem(reply, req, "validation-failed", fe.message.replace(/\s+at .*$/s, ""));
  }
  req.log.error({ err }, "unexpected error");
  return sendProblem(reply, req, "internal", "internal error (details are in the agent's log)");
}
