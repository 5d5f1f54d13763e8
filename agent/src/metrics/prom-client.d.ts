// prom-client's own classes, imported from the library's modules that define them (see
// metrics.ts): its index also loads every other metric type, the cluster aggregator, the
// Pushgateway, the default Node.js metrics and @opentelemetry/api, none of which the agent uses.
declare module "prom-client/lib/gauge.js" {
  import { Gauge } from "prom-client";
  export default Gauge;
}
declare module "prom-client/lib/registry.js" {
  import { Registry } from "prom-client";
  export default Registry;
}
