// deploy/compose.yaml, checked as far as this machine can without an image registry (issue 13):
// every file it mounts exists; Prometheus's config (promtool check config) scrapes the gateway's
// compose service on the port the image listens on and loads the shipped alert rules; Grafana's
// provisioned datasource points at the Prometheus service and its dashboard provider at the
// folder the dashboard is mounted in; the stop grace period covers the gateway's drain; every
// variable the default config reads is passed to the gateway. Each check is then shown to
// refuse a broken copy.
//
// The YAML parser comes from tests/deploy/kubernetes/node_modules (npm ci there; scripts/test.sh
// does). Exit 77 (CTest's SKIP) when it or promtool (Debian's prometheus package) is missing.
//
// usage: node test_compose.mjs --source-dir DIR
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf("--source-dir");
if (i < 0) {
  console.error("usage: node test_compose.mjs --source-dir DIR");
  process.exit(2);
}
const root = path.resolve(process.argv[i + 1]);
const deploy = path.join(root, "deploy");
const kubeModules = path.join(here, "..", "kubernetes", "package.json");
let YAML;
try {
  YAML = createRequire(kubeModules)("yaml");
} catch {
  console.log(`SKIP: the npm package yaml is not installed: run npm ci in ${path.dirname(kubeModules)} (scripts/test.sh does)`);
  process.exit(77);
}
function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}
const promtool = which("promtool");
if (!promtool) {
  console.log("SKIP: promtool is not installed (Debian's prometheus package; scripts/install-deps.sh --test)");
  process.exit(77);
}

const composeFile = path.join(deploy, "compose.yaml");
const read = (p) => fs.readFileSync(p, "utf8");

// "HOST:CONTAINER[:opts]" or the long form -> {source, target} with source resolved.
function mounts(service) {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === "string") {
      const [source, target] = v.split(":");
      return { source, target, bind: source.startsWith(".") || source.startsWith("/") };
    }
    return { source: v.source, target: v.target, bind: v.type === "bind" };
  }).map((m) => ({ ...m, host: m.bind ? path.resolve(deploy, m.source) : null }));
}

function seconds(d) {
  const m = /^(\d+)(ms|s|m)?$/.exec(String(d ?? "10s"));
  if (!m) return NaN;
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 }[m[2] ?? "s"]);
}

// A file's text as the compose set would see it: the mutations below replace some.
function check(compose, files) {
  const errors = [];
  const text = (p) => (files.has(p) ? files.get(p) : fs.existsSync(p) && fs.statSync(p).isFile() ? read(p) : null);
  const services = compose.services ?? {};
  const gw = services.switchyard;
  const prom = services.prometheus;
  const graf = services.grafana;
  if (!gw || !prom || !graf) return ["compose.yaml needs the services switchyard, prometheus and grafana"];

  for (const [name, s] of Object.entries(services)) {
    for (const m of mounts(s)) {
      if (m.bind && text(m.host) === null && !(fs.existsSync(m.host) && fs.statSync(m.host).isDirectory())) {
        errors.push(`${name} mounts ${m.source}, which does not exist`);
      }
    }
  }

  // The gateway: built from deploy/Dockerfile, listening where the others look for it.
  const context = path.resolve(deploy, gw.build?.context ?? ".");
  const dockerfile = path.resolve(context, gw.build?.dockerfile ?? "Dockerfile");
  const df = text(dockerfile);
  if (df === null) {
    errors.push(`the gateway's Dockerfile ${dockerfile} does not exist`);
    return errors;
  }
  const listen = /"--listen",\s*"[^"]*:(\d+)"/.exec(df);
  const gwPort = listen ? Number(listen[1]) : 4000;
  const drain = Number(/drain_timeout_ms:\s*(\d+)/.exec(text(path.join(deploy, "switchyard.yaml")) ?? "")?.[1] ?? 30000) / 1000;
  if (!(seconds(gw.stop_grace_period) > drain)) {
    errors.push(`the gateway's stop_grace_period ${gw.stop_grace_period ?? "10s (default)"} is not above its drain (${drain} s)`);
  }
  const passed = new Set((Array.isArray(gw.environment) ? gw.environment.map((e) => e.split("=")[0])
    : Object.keys(gw.environment ?? {})));
  const configCode = (text(path.join(deploy, "switchyard.yaml")) ?? "").replace(/(^|\s)#.*$/gm, "");
  const wanted = new Set([...configCode.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
  for (const v of wanted) if (!passed.has(v)) errors.push(`the default config reads ${v}, which compose does not pass to the gateway`);

  // Prometheus: its config, as mounted, valid, scraping the gateway, with the shipped rules.
  const flag = (prom.command ?? []).find((a) => a.startsWith("--config.file="));
  const configTarget = flag ? flag.split("=")[1] : "/etc/prometheus/prometheus.yml";
  const promMounts = mounts(prom);
  const configMount = promMounts.find((m) => m.target === configTarget);
  if (!configMount || text(configMount.host) === null) {
    errors.push(`nothing mounted at Prometheus's --config.file ${configTarget}`);
    return errors;
  }
  const promConfig = YAML.parse(text(configMount.host));
  const targets = (promConfig.scrape_configs ?? []).filter((s) => s.job_name === "switchyard")
    .flatMap((s) => (s.static_configs ?? []).flatMap((c) => c.targets ?? []));
  if (!targets.includes(`switchyard:${gwPort}`)) {
    errors.push(`Prometheus's job "switchyard" scrapes ${JSON.stringify(targets)}, not the gateway's service at switchyard:${gwPort}`);
  }
  const alertsHost = path.join(deploy, "prometheus", "alerts.yml");
  const rules = promConfig.rule_files ?? [];
  for (const r of rules) {
    const m = promMounts.find((x) => x.target === r);
    if (!m) errors.push(`Prometheus loads ${r}, which nothing mounts`);
    else if (m.host !== alertsHost) errors.push(`Prometheus's ${r} is ${m.source}, not the shipped deploy/prometheus/alerts.yml`);
  }
  if (!rules.some((r) => promMounts.find((x) => x.target === r)?.host === alertsHost)) {
    errors.push("Prometheus does not load the shipped alert rules");
  }
  // promtool on a copy whose rule files are the host's.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-compose-"));
  try {
    const copy = structuredClone(promConfig);
    copy.rule_files = rules.map((r, n) => {
      const m = promMounts.find((x) => x.target === r);
      const p = path.join(tmp, `rules${n}.yml`);
      fs.writeFileSync(p, (m && text(m.host)) ?? "");
      return p;
    });
    fs.writeFileSync(path.join(tmp, "prometheus.yml"), YAML.stringify(copy));
    execFileSync(promtool, ["check", "config", path.join(tmp, "prometheus.yml")], { stdio: "pipe" });
  } catch (e) {
    errors.push(`promtool check config refuses Prometheus's config: ${`${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // Grafana: the provisioned datasource and dashboard.
  const gm = mounts(graf);
  const prov = gm.find((m) => m.target === "/etc/grafana/provisioning");
  if (!prov) {
    errors.push("Grafana's /etc/grafana/provisioning is not mounted");
    return errors;
  }
  const provFiles = (sub) => {
    const dir = path.join(prov.host, sub);
    const names = new Set(fs.existsSync(dir) ? fs.readdirSync(dir) : []);
    for (const p of files.keys()) if (path.dirname(p) === dir) names.add(path.basename(p));
    return [...names].filter((n) => /\.ya?ml$/.test(n)).map((n) => YAML.parse(text(path.join(dir, n)) ?? "") ?? {});
  };
  const sources = provFiles("datasources").flatMap((f) => f.datasources ?? []);
  const promSource = sources.find((s) => s.type === "prometheus");
  const promPort = Number((prom.command ?? []).find((a) => a.startsWith("--web.listen-address="))?.split(":").pop() ?? 9090);
  if (!promSource) errors.push("Grafana has no Prometheus datasource provisioned");
  else if (promSource.url !== `http://prometheus:${promPort}`) {
    errors.push(`Grafana's Prometheus datasource is ${promSource.url}, not the compose service http://prometheus:${promPort}`);
  }
  const providers = provFiles("dashboards").flatMap((f) => f.providers ?? []);
  const dashboardHost = path.join(deploy, "grafana", "switchyard-dashboard.json");
  const dashMount = gm.find((m) => m.host === dashboardHost);
  if (!dashMount) errors.push("Grafana does not mount deploy/grafana/switchyard-dashboard.json");
  else if (!providers.some((p) => p.type === "file" && dashMount.target.startsWith(p.options?.path.replace(/\/?$/, "/")))) {
    errors.push(`no dashboard provider reads ${path.dirname(dashMount.target)}, where the dashboard is mounted`);
  }
  const dash = text(dashboardHost);
  if (dash !== null) {
    const vars = JSON.parse(dash).templating?.list ?? [];
    const dsVar = vars.find((v) => v.type === "datasource");
    if (dsVar && dsVar.query !== promSource?.type) errors.push(`the dashboard's datasource variable wants ${dsVar.query}`);
  }
  return errors;
}

let failed = 0;
function report(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "not ok"} - ${what}${detail ? `\n    ${detail.replace(/\n/g, "\n    ")}` : ""}`);
  if (!ok) failed++;
}

const compose = YAML.parse(read(composeFile));
const errors = check(compose, new Map());
report(errors.length === 0, "compose.yaml: every mount exists, Prometheus scrapes the gateway with the shipped rules (promtool check config), Grafana has the datasource and the dashboard", errors.join("\n"));

const promConfigPath = path.join(deploy, "compose", "prometheus.yml");
const dsPath = path.join(deploy, "grafana", "provisioning", "datasources", "prometheus.yaml");
const broken = [
  ["a mount of a file that does not exist", /mounts \.\/grafana\/missing\.json, which does not exist/, (c) => { c.services.grafana.volumes.push("./grafana/missing.json:/x.json:ro"); }],
  ["a stop grace period shorter than the drain", /stop_grace_period 10s is not above/, (c) => { c.services.switchyard.stop_grace_period = "10s"; }],
  ["a provider key not passed on", /reads OPENAI_API_KEY/, (c) => { c.services.switchyard.environment = c.services.switchyard.environment.filter((e) => e !== "OPENAI_API_KEY"); }],
  ["Prometheus scraping the wrong host", /not the gateway's service/, (c, f) => { f.set(promConfigPath, read(promConfigPath).replace("switchyard:4000", "localhost:4000")); }],
  ["Prometheus without the alert rules", /does not load the shipped alert rules/, (c) => { c.services.prometheus.volumes = c.services.prometheus.volumes.filter((v) => !v.includes("alerts.yml")); }],
  ["a Prometheus config promtool refuses", /promtool check config refuses/, (c, f) => { f.set(promConfigPath, read(promConfigPath).replace("scrape_interval: 15s", "scrape_interval: fast")); }],
  ["a Grafana datasource on the wrong host", /not the compose service/, (c, f) => { f.set(dsPath, read(dsPath).replace("http://prometheus:9090", "http://localhost:9090")); }],
  ["a dashboard mounted where no provider reads", /no dashboard provider reads/, (c) => { c.services.grafana.volumes = c.services.grafana.volumes.map((v) => v.replace("/var/lib/grafana/dashboards/switchyard/", "/srv/")); }],
];
for (const [what, expected, mutate] of broken) {
  const c = structuredClone(compose);
  const f = new Map();
  mutate(c, f);
  const errs = check(c, f);
  const hit = errs.some((e) => expected.test(e));
  report(hit, `refuses ${what}`, hit ? "" : `expected ${expected}, got:\n${errs.join("\n") || "(no error)"}`);
}
console.log(`${1 + broken.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
