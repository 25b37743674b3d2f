// deploy/compose.yaml, checked as far as this machine can without an image registry (issue 13):
// every file it mounts exists; Prometheus's config (promtool check config) scrapes the gateway's
// compose service on the port the image listens on and loads the shipped alert rules; Grafana's
// provisioned datasource points at the Prometheus service and its dashboard provider at the
// folder the dashboard is mounted in; the stop grace period covers the gateway's drain; every
// variable the default config reads is passed to the gateway. The `replicas` profile (issue
// 14): the replicas share the PostgreSQL and Redis services with the credentials those are
// given, the default config passes `switchyard --check` with the replicas' environment, no
// replica publishes a port or shares a named volume, the load balancer's nginx config sends
// to the replica service's port with buffering off (and passes nginx -t, where nginx is
// installed), and Prometheus scrapes every replica. Each check is then shown to refuse a
// broken copy.
//
// The YAML parser comes from tests/deploy/kubernetes/node_modules (npm ci there; scripts/test.sh
// does). Exit 77 (CTest's SKIP) when it or promtool (Debian's prometheus package) is missing.
//
// usage: node test_compose.mjs --source-dir DIR --switchyard BIN
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node test_compose.mjs --source-dir DIR --switchyard BIN (missing ${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}
const root = path.resolve(arg("--source-dir"));
const switchyard = path.resolve(arg("--switchyard"));
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
      // "/path" alone is an anonymous volume, one per container.
      if (!v.includes(":")) return { source: null, target: v, bind: false, anonymous: true };
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

// A compose value with ${VAR:-default} as compose reads it where VAR is unset.
const interpolate = (v) => String(v ?? "").replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, _name, d) => d ?? "");
function environment(service) {
  const env = new Map();
  if (Array.isArray(service.environment)) {
    for (const e of service.environment) {
      const eq = e.indexOf("=");
      env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? null : interpolate(e.slice(eq + 1)));
    }
  } else {
    for (const [k, v] of Object.entries(service.environment ?? {})) env.set(k, v === null ? null : interpolate(v));
  }
  return env;
}
const nginx = which("nginx");

function checkReplicas(compose, files) {
  const errors = [];
  const text = (p) => (files.has(p) ? files.get(p) : fs.existsSync(p) && fs.statSync(p).isFile() ? read(p) : null);
  const services = compose.services ?? {};
  const { replica, lb, postgres, redis, switchyard: gw, prometheus: prom } = services;
  if (!replica || !lb || !postgres || !redis) return ["compose.yaml needs the services replica, lb, postgres and redis"];
  for (const [name, s] of Object.entries({ replica, lb, postgres, redis })) {
    if (!(s.profiles ?? []).includes("replicas")) errors.push(`${name} is not in the profile replicas (it would start with the single gateway)`);
  }

  // The replicas: the gateway's image, several, no fixed host port, nothing shared on disk.
  if (replica.image !== gw.image) errors.push(`the replicas run ${replica.image}, not the gateway's image ${gw.image}`);
  if (!(Number(replica.deploy?.replicas ?? 1) >= 2)) errors.push(`deploy.replicas is ${replica.deploy?.replicas ?? 1}: not several replicas`);
  if ((replica.ports ?? []).length) errors.push(`the replica service publishes ${JSON.stringify(replica.ports)}: its containers would fight for the host port`);
  for (const m of mounts(replica)) {
    if (!m.bind && !m.anonymous) errors.push(`the replicas share the named volume ${m.source}: each needs its own ledger spool`);
  }
  const drain = Number(/drain_timeout_ms:\s*(\d+)/.exec(text(path.join(deploy, "switchyard.yaml")) ?? "")?.[1] ?? 30000) / 1000;
  if (!(seconds(replica.stop_grace_period) > drain)) errors.push(`the replicas' stop_grace_period ${replica.stop_grace_period ?? "10s (default)"} is not above their drain (${drain} s)`);
  for (const dep of ["postgres", "redis"]) {
    if (replica.depends_on?.[dep]?.condition !== "service_healthy") errors.push(`the replicas do not wait for ${dep} to be healthy`);
    if (!services[dep].healthcheck?.test) errors.push(`${dep} has no healthcheck for the replicas to wait on`);
  }

  // Their environment: the shared store, on the services and with the credentials compose gives.
  const env = environment(replica);
  if (env.get("SWITCHYARD_STATE_STORE") !== "postgres") errors.push(`the replicas' SWITCHYARD_STATE_STORE is ${env.get("SWITCHYARD_STATE_STORE")}, not postgres`);
  const pgEnv = environment(postgres);
  let db;
  try { db = new URL(env.get("SWITCHYARD_DATABASE_URL") ?? ""); } catch { db = null; }
  if (!db || !/^postgres(ql)?:$/.test(db.protocol)) errors.push("the replicas' SWITCHYARD_DATABASE_URL is not a postgresql:// URL");
  else {
    if (db.hostname !== "postgres") errors.push(`the database URL's host is ${db.hostname}, not the postgres service`);
    if ((db.port || "5432") !== "5432") errors.push(`the database URL's port is ${db.port}, not PostgreSQL's 5432`);
    if (decodeURIComponent(db.username) !== pgEnv.get("POSTGRES_USER")) errors.push(`the database URL's user is ${db.username}, not POSTGRES_USER`);
    if (decodeURIComponent(db.password) !== pgEnv.get("POSTGRES_PASSWORD")) errors.push("the database URL's password is not postgres's POSTGRES_PASSWORD");
    if (db.pathname.slice(1) !== pgEnv.get("POSTGRES_DB")) errors.push(`the database URL's database is ${db.pathname.slice(1)}, not POSTGRES_DB`);
  }
  let cache;
  try { cache = new URL(env.get("SWITCHYARD_REDIS_URL") ?? ""); } catch { cache = null; }
  if (!cache || cache.protocol !== "redis:") errors.push("the replicas' SWITCHYARD_REDIS_URL is not a redis:// URL");
  else if (cache.hostname !== "redis" || (cache.port || "6379") !== "6379") errors.push(`the Redis URL points at ${cache.host}, not the redis service on 6379`);
  const configCode = (text(path.join(deploy, "switchyard.yaml")) ?? "").replace(/(^|\s)#.*$/gm, "");
  for (const v of new Set([...configCode.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]))) {
    if (!env.has(v)) errors.push(`the default config reads ${v}, which compose does not pass to the replicas`);
  }
  // The image's config with that environment, as a replica starts it.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-compose-"));
  try {
    const file = path.join(tmp, "switchyard.yaml");
    fs.writeFileSync(file, text(path.join(deploy, "switchyard.yaml")) ?? "");
    const vars = { PATH: process.env.PATH };
    for (const [k, v] of env) if (v !== null) vars[k] = v;
    execFileSync(switchyard, ["--config", file, "--check"], { env: vars, cwd: tmp, stdio: "pipe" });
  } catch (e) {
    errors.push(`switchyard --check refuses the default config with the replicas' environment: ${`${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message}`);
  }

  // The load balancer: nginx, sending to the replica service's port, streams unbuffered.
  const conf = mounts(lb).find((m) => m.target === "/etc/nginx/nginx.conf");
  const confText = conf ? text(conf.host) : null;
  if (confText === null) {
    errors.push("the load balancer has no nginx.conf mounted at /etc/nginx/nginx.conf");
  } else {
    const code = confText.replace(/#.*$/gm, "");
    const upstreams = [...code.matchAll(/upstream\s+\S+\s*\{([^}]*)\}/g)].map((m) => m[1]).join("\n");
    const servers = [...upstreams.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]);
    if (servers.length === 0 || servers.some((s2) => s2 !== "replica:4000")) errors.push(`nginx's upstream servers are ${JSON.stringify(servers)}, not the replica service at replica:4000`);
    if (!/proxy_buffering\s+off\s*;/.test(code)) errors.push("nginx buffers answers (proxy_buffering is not off): streams would arrive in lumps");
    if (!/proxy_http_version\s+1\.1\s*;/.test(code)) errors.push("nginx speaks HTTP/1.0 to the replicas (proxy_http_version 1.1 is missing)");
    const listen = /^\s*listen\s+(\d+)\s*;/m.exec(code)?.[1];
    const published = (lb.ports ?? []).map((p) => String(p).split(":").pop());
    if (!listen || !published.includes(listen)) errors.push(`nginx listens on ${listen}, which the lb service does not publish (${JSON.stringify(lb.ports ?? [])})`);
    if (nginx) {
      // nginx -t resolves the upstream's name: on loopback here.
      const copy = path.join(tmp, "nginx.conf");
      fs.writeFileSync(copy, confText.replace(/server\s+replica:/g, "server 127.0.0.1:").replace(/listen\s+(\d+)\s*;/g, "listen 127.0.0.1:$1;"));
      try {
        execFileSync(nginx, ["-t", "-q", "-p", tmp, "-c", copy], { stdio: "pipe" });
      } catch (e) {
        errors.push(`nginx -t refuses the load balancer's config: ${`${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message}`);
      }
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });

  // Prometheus: every replica a target of the job the alert rules match.
  const promMount = mounts(prom).find((m) => m.target === "/etc/prometheus/prometheus.yml");
  const promConfig = YAML.parse((promMount && text(promMount.host)) ?? "") ?? {};
  const job = (promConfig.scrape_configs ?? []).find((j) => j.job_name === "switchyard");
  const dns = (job?.dns_sd_configs ?? []).find((d) => (d.names ?? []).includes("replica"));
  if (!dns || Number(dns.port) !== 4000 || (dns.type ?? "SRV") !== "A") errors.push("Prometheus's job switchyard does not find the replicas (dns_sd_configs: names [replica], type A, port 4000)");
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
// Each broken copy (compose mutated, files replaced in `f`) must get the error it expects.
function expectRefusals(cases, checker) {
  for (const [what, expected, mutate] of cases) {
    const c = structuredClone(compose);
    const f = new Map();
    mutate(c, f);
    const errs = checker(c, f);
    const hit = errs.some((e) => expected.test(e));
    report(hit, `refuses ${what}`, hit ? "" : `expected ${expected}, got:\n${errs.join("\n") || "(no error)"}`);
  }
}
expectRefusals(broken, check);
if (!nginx) console.log("# nginx is not installed here: its config is read, but nginx -t is not run (bench/install-bench-deps.sh installs it)");
const replicaErrors = checkReplicas(compose, new Map());
report(replicaErrors.length === 0, "the replicas profile: three replicas on the postgres and redis services with their credentials, switchyard --check passes, nginx in front of them unbuffered, Prometheus scrapes each", replicaErrors.join("\n"));
const nginxConfPath = path.join(deploy, "compose", "nginx-replicas.conf");
const replicaEnv = (c, name, value) => {
  c.services.replica.environment = c.services.replica.environment.map((e) => (e.startsWith(`${name}=`) ? `${name}=${value}` : e));
};
const brokenReplicas = [
  ["a database password the postgres service does not have", /password is not postgres's POSTGRES_PASSWORD/, (c) => { c.services.postgres.environment.POSTGRES_PASSWORD = "other"; }],
  ["replicas on their own SQLite files", /SWITCHYARD_STATE_STORE is sqlite/, (c) => { replicaEnv(c, "SWITCHYARD_STATE_STORE", "sqlite"); }],
  ["a Redis URL on another host", /Redis URL points at localhost/, (c) => { replicaEnv(c, "SWITCHYARD_REDIS_URL", "redis://localhost:6379/0"); }],
  ["a database URL switchyard --check refuses", /not a postgresql:\/\/ URL|--check refuses/, (c) => { replicaEnv(c, "SWITCHYARD_DATABASE_URL", "mysql://db/x"); }],
  ["replicas publishing a host port", /publishes .*fight for the host port/, (c) => { c.services.replica.ports = ["4000:4000"]; }],
  ["replicas sharing a named volume", /share the named volume spool/, (c) => { c.services.replica.volumes = ["spool:/var/lib/switchyard"]; }],
  ["replicas not waiting for a healthy database", /do not wait for postgres/, (c) => { c.services.replica.depends_on.postgres = { condition: "service_started" }; }],
  ["a replica service outside the profile", /replica is not in the profile replicas/, (c) => { delete c.services.replica.profiles; }],
  ["nginx sending to the wrong port", /not the replica service at replica:4000/, (c, f) => { f.set(nginxConfPath, read(nginxConfPath).replace("replica:4000", "replica:8080")); }],
  ["nginx buffering streams", /proxy_buffering is not off/, (c, f) => { f.set(nginxConfPath, read(nginxConfPath).replace("proxy_buffering off;", "")); }],
  ["Prometheus not scraping the replicas", /does not find the replicas/, (c, f) => { f.set(promConfigPath, read(promConfigPath).replace('names: ["replica"]', 'names: ["switchyard"]')); }],
];
if (nginx) brokenReplicas.push(["an nginx config nginx -t refuses", /nginx -t refuses/, (c, f) => { f.set(nginxConfPath, read(nginxConfPath).replace("keepalive 64;", "keepalive sixty-four;")); }]);
expectRefusals(brokenReplicas, checkReplicas);
const total = 1 + broken.length + 1 + brokenReplicas.length;
console.log(`${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
