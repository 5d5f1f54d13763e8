/**
 * Typed errors with a stable `code`. One table maps code → HTTP status; `satisfies` keeps it total,
 * so adding a code without a status is a type error.
 */
export const errorStatus = {
  unauthorized: 401,
  "rate-limited": 429,
  "not-found": 404,
  "validation-failed": 400,
  "payload-too-large": 413,
  "uri-too-long": 414,
  "request-header-too-large": 431,
  "unsupported-media-type": 415,
  busy: 409,
  "zfs-unavailable": 503,
  "no-system-found": 409,
  "ambiguous-system": 409,
  "pool-not-found": 404,
  "pool-unavailable": 422,
  "pool-in-use-elsewhere": 409,
  "pool-name-conflict": 409,
  "pool-busy": 409,
  "device-not-found": 404,
  "not-luks": 422,
  "key-not-loaded": 409,
  "key-already-loaded": 409,
  "not-encryption-root": 422,
  "wrong-passphrase": 422,
  "not-mounted": 409,
  "mount-failed": 500,
  "unmount-failed": 500,
  "command-failed": 500,
  "command-timeout": 504,
  "path-escape": 400,
  /** A symlink or non-directory on the way to a mount target inside the installed system. */
  "unsafe-mountpoint": 422,
  /** The installed fstab's / or /nix line is refused (unsafe option, source outside the inventory, unknown type read-only). */
  "unsafe-fstab": 422,
  "read-only-mount": 409,
  /** Read-write or rebuild while entries of the system are skipped (unsafe, broken, locked) and not acknowledged. */
  "skipped-entries": 409,
  /** An unmount or export found the mount held by processes (`holders` names them, as fuser would). */
  "target-busy": 409,
  /** A reader stopped because a change of the mounts needed them (it is redone after). */
  cancelled: 409,
  /** The installed system keeps no persistent journal (its logs were only in memory). */
  "no-journal": 404,
  /** A kernel parameter the system cannot boot without (init=, the root's root=/zfs=) was to be removed. */
  "protected-kernel-param": 422,
  "precondition-failed": 412,
  "precondition-required": 428,
  "confirm-mismatch": 422,
  // Destroying snapshots to free a pool (core/zfsSpace.ts planSnapshotDestroy): refused before zfs runs.
  "snapshot-unknown": 404,
  "snapshot-other-pool": 422,
  /** A snapshot name given for only some of the datasets that have it (one call destroys it on all). */
  "snapshot-partial": 422,
  /** The snapshot a pending diagnosis fix rolls back to, or Lifeboat's newest own snapshot. */
  "snapshot-protected": 409,
  "snapshot-held": 409,
  "snapshot-has-clones": 409,
  /** The destroy would leave fewer snapshots than the request's `keep`. */
  "snapshot-keep": 409,
  "no-bootloader": 404,
  "job-not-running": 409,
  "too-large": 413,
  // Files of the installed system (system/rootfs.ts): hostile or broken disk data, never a 500.
  "unsafe-file": 422,
  "file-too-large": 422,
  "file-timeout": 504,
  "file-failed": 502,
  "parse-error": 502,
  internal: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorExtras {
  /** Extra members of the problem+json body (never secrets). */
  [key: string]: unknown;
}

export class LifeboatError extends Error {
  readonly code: ErrorCode;
  readonly extras: ErrorExtras;
  constructor(code: ErrorCode, message: string, extras: ErrorExtras = {}) {
    super(message);
    this.name = "LifeboatError";
    this.code = code;
    this.extras = extras;
  }
  get status(): number {
    return errorStatus[this.code];
  }
}

/** Thrown by pure parsers when their input does not have the expected shape. */
export class ParseError extends LifeboatError {
  constructor(what: string, detail: string) {
    super("parse-error", `could not parse ${what}: ${detail}`, { what });
    this.name = "ParseError";
  }
}
