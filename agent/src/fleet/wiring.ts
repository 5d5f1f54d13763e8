import type { Logger } from "pino";
import type { Services } from "../app/services.js";
import type { Config } from "../config.js";
import { LifeboatError } from "../core/errors.js";
import { keyIdOf } from "../core/fleet/sign.js";
import type { MetricsOptions } from "../http/routes/metrics.js";
import { httpReportSender } from "../system/callback.js";
import { readMachineFacts } from "../system/identity.js";
import type { System } from "../system/system.js";
import { noPhoneHomeYet, PhoneHome } from "./phonehome.js";

export interface FleetSecrets {
  callbackKey: string | null;
  metricsToken: string | null;
  metrics: MetricsOptions;
  phoneHome: PhoneHome | null;
}

async function secretFrom(sys: System, value: string | null, file: string | null, what: string) {
  if (value) return value;
  if (!file) return null;
  const text = (await sys.readFile(file))?.toString("utf8").trim();
  if (!text) throw new LifeboatError("validation-failed", `${what} ${file} is missing or empty`);
  if (text.length < 16)
    throw new LifeboatError("validation-failed", `${what} must have at least 16 characters`);
  return text;
}

/** The callback key and the metrics token (values from the command line win over files). */
export async function fleetSecrets(sys: System, c: Config): Promise<FleetSecrets> {
  const callbackKey = await secretFrom(sys, c.callbackToken, c.callbackTokenFile, "callback token file");
  const metricsToken = await secretFrom(sys, c.metricsToken, c.metricsTokenFile, "metrics token file");
  const holder: FleetSecrets = { callbackKey, metricsToken, metrics: {}, phoneHome: null };
  holder.metrics = {
    ...(metricsToken ? { token: metricsToken } : {}),
    ...(c.callback ? { phoneHome: () => holder.phoneHome?.stats ?? noPhoneHomeYet() } : {}),
  };
  return holder;
}

/** Phone home when a callback URL is configured; reports are signed with the callback key or the API token. */
export function startFleet(
  sys: System,
  services: Services,
  log: Logger,
  c: Config,
  apiToken: string,
  f: FleetSecrets,
): void {
  if (!c.callback) return;
  const ph = new PhoneHome(
    sys,
    services,
    c.root,
    () => readMachineFacts(sys),
    httpReportSender(c.callback, c.callbackFingerprint),
    log.child({ component: "phone-home" }),
    {
      url: c.callback,
      key: f.callbackKey ?? apiToken,
      apiTokenId: keyIdOf(apiToken),
      metricsTokenId: f.metricsToken ? keyIdOf(f.metricsToken) : null,
      advertise: c.advertise,
      name: c.name,
    },
  );
  f.phoneHome = ph;
  log.info(
    {
      to: new URL(c.callback).origin,
      signedWith: f.callbackKey ? "callback token" : "API token",
      keyId: keyIdOf(f.callbackKey ?? apiToken),
      pinned: c.callbackFingerprint !== null,
    },
    "phone home on",
  );
  if (new URL(c.callback).protocol === "http:")
    log.warn("phone home over plain http: reports are signed but readable on the network");
  ph.start();
}
