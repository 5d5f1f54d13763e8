import {
  DeviceParam,
  MountBody,
  MountResult,
  PassphraseBody,
  PoolParam,
  UnmountBody,
  UnmountResult,
} from "../schemas.js";
import type { App, Services } from "../server.js";
import { Type } from "../typebox.js";
import { requester } from "../who.js";

export function registerActionRoutes(app: App, s: Services, token: string): void {
  const who = requester(token);
  app.post(
    "/v1/mount",
    {
      schema: {
        summary:
          "Import the installed system's pool and mount it under the root (read-only by default); a no-op when mounted",
        body: MountBody,
        response: { 200: MountResult },
      },
    },
    async (req) => s.mounts.mount(req.body, who(req)),
  );

  app.post(
    "/v1/unmount",
    {
      schema: {
        summary:
          "Unmount everything under the root; with export, also zpool export (lets the server boot cleanly)",
        body: UnmountBody,
        response: { 200: UnmountResult },
      },
    },
    async (req) => s.mounts.unmount(req.body, who(req)),
  );

  app.post(
    "/v1/pools/:pool/load-key",
    {
      schema: {
        summary:
          "Load the encryption key of the pool's locked encryption roots (passphrase via stdin, never logged)",
        params: PoolParam,
        body: PassphraseBody,
        response: {
          200: Type.Object({ pool: Type.String(), loaded: Type.Array(Type.String()) }),
        },
      },
    },
    async (req) => s.mounts.loadKey(req.params.pool, req.body.passphrase),
  );

  app.post(
    "/v1/luks/:device/open",
    {
      schema: {
        summary:
          "Open a LUKS container (kernel name, e.g. nvme0n1p2) so its filesystem takes part in detection",
        params: DeviceParam,
        body: PassphraseBody,
        response: {
          200: Type.Object({ device: Type.String(), mapper: Type.String(), alreadyOpen: Type.Boolean() }),
        },
      },
    },
    async (req) => s.mounts.openLuks(req.params.device, req.body.passphrase),
  );
}
