// deploy/kubernetes/ against the Kubernetes schemas (issue 13).
//
// Every document of every YAML file in the folder is checked three ways:
//  1. the schema of its apiVersion and kind, from the `kubernetes-models` package (and
//     `@kubernetes-models/prometheus-operator` for the ServiceMonitor's CRD): types, required
//     fields, formats;
//  2. unknown fields, as the API server's strict field validation refuses them (kubectl's
//     default): the allowed fields are read from the same packages' type declarations;
//  3. what the pieces must agree on for the gateway to work: the kustomization lists every
//     file that exists, the Service, PodDisruptionBudget and ServiceMonitor select the pods,
//     the probes hit /health/ready and /health/live on the port the config listens on, the
//     grace period covers the preStop wait and the drain, the pod runs as non-root, the
//     config file the gateway is given is the ConfigMap's, every Secret key the pod reads
//     exists, and the ConfigMap's config passes `switchyard --check` with the Secret's values.
// Then each check is shown to refuse a broken copy (the cases in `broken`), so none passes by
// doing nothing.
//
// usage: node test_manifests.mjs --switchyard BIN --manifests DIR
// Exit 0 all passed, 1 any failed, 77 (CTest's SKIP) when the npm packages are not installed
// (`npm ci` here; scripts/test.sh does it).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node test_manifests.mjs --switchyard BIN --manifests DIR (missing ${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}
const switchyard = arg("--switchyard");
const manifestDir = arg("--manifests");

const modules = path.join(here, "node_modules");
for (const pkg of ["kubernetes-models", "@kubernetes-models/prometheus-operator", "yaml"]) {
  if (!fs.existsSync(path.join(modules, pkg, "package.json"))) {
    console.log(`SKIP: the npm package ${pkg} is not installed: run npm ci in ${here} (scripts/test.sh does)`);
    process.exit(SKIP);
  }
}
const YAML = (await import("yaml")).default;

// ---- 1. schemas --------------------------------------------------------------------------

// apiVersion -> [package, folder of that group/version inside it].
function modelLocation(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return ["@kubernetes-models/prometheus-operator", `monitoring.coreos.com/${version}`];
  }
  if (group === "" || !group.includes(".") || group.endsWith(".k8s.io")) {
    return ["kubernetes-models", group === "" ? version : `${group}/${version}`];
  }
  return null;
}

async function schemaErrors(doc) {
  const where = modelLocation(String(doc.apiVersion));
  if (!where) return [`no schema known for apiVersion ${doc.apiVersion}`];
  let mod;
  try {
    mod = await import(`${where[0]}/${where[1]}`);
  } catch {
    return [`no schema known for apiVersion ${doc.apiVersion}`];
  }
  const Model = mod[doc.kind];
  if (typeof Model !== "function") return [`${doc.apiVersion} has no kind ${doc.kind}`];
  try {
    new Model(structuredClone(doc)).validate();
    return [];
  } catch (e) {
    return [String(e.message).trim()];
  }
}

// ---- 2. unknown fields, from the packages' type declarations -----------------------------
//
// The .d.ts files declare each object as an interface or an inline type literal; a small
// parser reads them into {object, array, union, ref, other} nodes and resolves names through
// each file's imports and `export { A as B }` aliases.

const require = createRequire(import.meta.url);
const parsedFiles = new Map();

function tokenize(src) {
  src = src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|=>|[{}()[\]<>;:,?|&=.*-])/y;
  const out = [];
  let m;
  re.lastIndex = 0;
  while (re.lastIndex < src.length && (m = re.exec(src))) out.push(m[1]);
  return out;
}

class TypeParser {
  constructor(tokens) { this.t = tokens; this.i = 0; }
  peek(k = 0) { return this.t[this.i + k]; }
  next() { return this.t[this.i++]; }
  eat(tok) { if (this.peek() === tok) { this.i++; return true; } return false; }
  expect(tok) {
    const got = this.next();
    if (got !== tok) throw new Error(`expected ${tok}, got ${got}`);
  }
  type() {
    this.eat("|");
    const members = [this.postfix()];
    while (this.eat("|") || this.eat("&")) members.push(this.postfix());
    return members.length === 1 ? members[0] : { kind: "union", of: members };
  }
  postfix() {
    let t = this.primary();
    while (this.peek() === "[") {
      if (this.peek(1) === "]") { this.i += 2; t = { kind: "array", of: t }; }
      else { this.i++; this.type(); this.expect("]"); t = { kind: "other" }; } // X["k"]
    }
    return t;
  }
  primary() {
    const tok = this.next();
    if (tok === "{") return this.members("}");
    if (tok === "(") { const t = this.type(); this.expect(")"); return t; }
    if (tok === "Array" && this.peek() === "<") {
      this.next(); const of = this.type(); this.expect(">"); return { kind: "array", of };
    }
    if (/^[A-Za-z_$]/.test(tok)) {
      let name = tok;
      while (this.peek() === ".") { this.next(); name += "." + this.next(); }
      if (this.eat("<")) { this.type(); while (this.eat(",")) this.type(); this.expect(">"); }
      if (["string", "number", "boolean", "any", "unknown", "null", "undefined", "object", "never"].includes(name)) {
        return { kind: "other" };
      }
      return { kind: "ref", name };
    }
    return { kind: "other" }; // a literal
  }
  // After "{": properties up to the closing token.
  members(close) {
    const node = { kind: "object", props: new Map(), index: null };
    while (!this.eat(close)) {
      if (this.peek() === "[") { // [key: string]: T
        this.next(); this.next(); this.expect(":"); this.type(); this.expect("]");
        this.expect(":"); node.index = this.type();
      } else {
        let key = this.next();
        if (key === "readonly" && this.peek() !== ":" && this.peek() !== "?") key = this.next();
        if (/^["']/.test(key)) key = JSON.parse(key.replace(/^'|'$/g, '"'));
        if (this.peek() === "(" || this.peek() === "<") { // a method: skip to its ';'
          let depth = 0;
          while (!(depth === 0 && (this.peek() === ";" || this.peek() === close))) {
            const x = this.next();
            if (x === "(" || x === "{" || x === "<") depth++;
            if (x === ")" || x === "}" || x === ">") depth--;
          }
          this.eat(";");
          continue;
        }
        this.eat("?");
        this.expect(":");
        node.props.set(key, this.type());
      }
      this.eat(";") || this.eat(",");
    }
    return node;
  }
}

function resolveModule(fromFile, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(fromFile), spec) : null;
  const candidates = base ? [base + ".d.ts", path.join(base, "index.d.ts")] : [];
  if (!base) {
    try { candidates.push(require.resolve(spec).replace(/\.js$/, ".d.ts")); } catch { /* below */ }
    const parts = spec.split("/");
    const pkgLen = spec.startsWith("@") ? 2 : 1;
    const pkgDir = path.join(modules, ...parts.slice(0, pkgLen));
    const rest = parts.slice(pkgLen).join("/");
    candidates.push(path.join(pkgDir, rest + ".d.ts"), path.join(pkgDir, rest, "index.d.ts"));
  }
  return candidates.find((c) => fs.existsSync(c)) ?? null;
}

// One .d.ts file: its declared interfaces and types, imports and export aliases.
function parseFile(file) {
  if (parsedFiles.has(file)) return parsedFiles.get(file);
  const info = { decls: new Map(), imports: new Map(), aliases: new Map() };
  parsedFiles.set(file, info);
  const p = new TypeParser(tokenize(fs.readFileSync(file, "utf8")));
  while (p.peek() !== undefined) {
    const tok = p.next();
    if (tok === "import" && p.peek() === "{") {
      p.next();
      const names = [];
      while (!p.eat("}")) {
        const orig = p.next();
        const local = p.eat("as") ? p.next() : orig;
        names.push([orig, local]);
        p.eat(",");
      }
      p.expect("from");
      const target = resolveModule(file, JSON.parse(p.next().replace(/^'|'$/g, '"')));
      for (const [orig, local] of names) info.imports.set(local, { target, orig });
    } else if (tok === "export" && p.peek() === "{") {
      p.next();
      while (!p.eat("}")) {
        const orig = p.next();
        const name = p.eat("as") ? p.next() : orig;
        info.aliases.set(name, orig);
        p.eat(",");
      }
    } else if (tok === "interface") {
      const name = p.next();
      if (p.eat("<")) { while (!p.eat(">")) p.next(); }
      const parents = [];
      if (p.eat("extends")) {
        do { parents.push(p.postfix()); } while (p.eat(","));
      }
      p.expect("{");
      const node = p.members("}");
      node.parents = parents;
      info.decls.set(name, { node, file });
    } else if (tok === "type" && /^[A-Za-z_$]/.test(p.peek() ?? "") && p.peek(1) === "=") {
      const name = p.next();
      p.next();
      info.decls.set(name, { node: p.type(), file });
    } else if (tok === "class") { // declared classes repeat their interface: skip the body
      while (p.peek() !== "{") p.next();
      p.next();
      let depth = 1;
      while (depth > 0) { const x = p.next(); if (x === "{") depth++; if (x === "}") depth--; }
    }
  }
  return info;
}

// A name as seen from a file -> { node, file } or null (an outside type, e.g. TypeMeta).
function resolveName(file, name, seen = 0) {
  if (!file || seen > 20) return null;
  const info = parseFile(file);
  if (info.decls.has(name)) return info.decls.get(name);
  if (info.aliases.has(name) && info.aliases.get(name) !== name) {
    return resolveName(file, info.aliases.get(name), seen + 1);
  }
  const imp = info.imports.get(name);
  if (imp) return resolveName(imp.target, imp.orig, seen + 1);
  return null;
}

// The object type a node stands for (following refs and merging interface parents), or null.
function objectType(node, file) {
  for (let depth = 0; node && depth < 20; depth++) {
    if (node.kind === "object") {
      if (!node.parents || node.parents.length === 0) return { node, file };
      const props = new Map(node.props);
      let index = node.index;
      for (const parent of node.parents) {
        const p = objectType(parent, file);
        if (p) { for (const [k, v] of p.node.props) if (!props.has(k)) props.set(k, { ...v, file: p.file }); index ??= p.node.index; }
      }
      return { node: { kind: "object", props, index }, file };
    }
    if (node.kind === "ref") {
      const r = resolveName(file, node.name);
      if (!r) return null;
      node = r.node; file = r.file;
      continue;
    }
    if (node.kind === "union") {
      const objects = node.of.map((m) => objectType(m, file)).filter(Boolean);
      return objects.length === 1 ? objects[0] : null;
    }
    return null;
  }
  return null;
}

function arrayElement(node, file) {
  for (let depth = 0; node && depth < 20; depth++) {
    if (node.kind === "array") return { node: node.of, file };
    if (node.kind === "ref") { const r = resolveName(file, node.name); if (!r) return null; node = r.node; file = r.file; continue; }
    if (node.kind === "union") { const a = node.of.map((m) => arrayElement(m, file)).filter(Boolean); return a[0] ?? null; }
    return null;
  }
  return null;
}

function unknownFields(value, node, file, where, out) {
  if (Array.isArray(value)) {
    const el = arrayElement(node, file);
    if (el) value.forEach((v, i) => unknownFields(v, el.node, el.file, `${where}[${i}]`, out));
    return;
  }
  if (value === null || typeof value !== "object") return;
  const obj = objectType(node, file);
  if (!obj) return;
  for (const [k, v] of Object.entries(value)) {
    const prop = obj.node.props.get(k);
    if (prop) unknownFields(v, prop, prop.file ?? obj.file, `${where}.${k}`, out);
    else if (obj.node.index) unknownFields(v, obj.node.index, obj.file, `${where}.${k}`, out);
    else out.push(`${where}.${k}: unknown field "${k}"`);
  }
}

function strictErrors(doc) {
  const where = modelLocation(String(doc.apiVersion));
  if (!where) return [];
  const file = path.join(modules, where[0], where[1], `${doc.kind}.d.ts`);
  if (!fs.existsSync(file)) return [`no type declaration for ${doc.apiVersion} ${doc.kind}`];
  const decl = resolveName(file, `I${doc.kind}`);
  if (!decl) return [`no interface I${doc.kind} in ${file}`];
  const out = [];
  unknownFields(doc, { kind: "ref", name: `I${doc.kind}` }, file, doc.kind, out);
  return out;
}

// ---- 3. what the pieces must agree on -----------------------------------------------------

function matches(selector, labels) {
  const want = selector?.matchLabels ?? selector ?? {};
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

function envFor(secretData, container) {
  const env = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    const ref = e.valueFrom?.secretKeyRef;
    if (ref && secretData.has(`${ref.name}/${ref.key}`)) env[e.name] = secretData.get(`${ref.name}/${ref.key}`);
  }
  return env;
}

function checkSet(files) {
  const errors = [];
  const docs = files.flatMap((f) => f.docs);
  const byKind = (kind) => docs.filter((d) => d.kind === kind);
  const one = (kind) => {
    const found = byKind(kind);
    if (found.length !== 1) errors.push(`expected one ${kind}, found ${found.length}`);
    return found[0];
  };

  // The kustomization names every manifest once, and only files that exist.
  const kust = files.find((f) => f.name === "kustomization.yaml");
  if (!kust) errors.push("no kustomization.yaml");
  else {
    const listed = kust.docs[0].resources ?? [];
    for (const r of listed) if (!files.some((f) => f.name === r)) errors.push(`kustomization.yaml lists ${r}, which does not exist`);
    const optional = fs.existsSync(kust.path) ? fs.readFileSync(kust.path, "utf8") : "";
    for (const f of files) {
      if (f.name === "kustomization.yaml" || listed.includes(f.name)) continue;
      if (!new RegExp(`Optional:.*\\b${f.name.replace(".", "\\.")}\\b`).test(optional)) {
        errors.push(`${f.name} is neither in kustomization.yaml's resources nor named there as optional`);
      }
    }
  }

  const dep = one("Deployment");
  const cm = one("ConfigMap");
  const svc = one("Service");
  if (!dep || !cm || !svc) return errors;
  const pod = dep.spec.template;
  const podLabels = pod.metadata?.labels ?? {};
  if (!matches(dep.spec.selector, podLabels)) errors.push("the Deployment's selector does not match its pod labels");
  if (!matches(svc.spec.selector, podLabels)) errors.push("the Service's selector does not match the pods");
  for (const pdb of byKind("PodDisruptionBudget")) {
    if (!matches(pdb.spec.selector, podLabels)) errors.push("the PodDisruptionBudget's selector does not match the pods");
    if (pdb.spec.maxUnavailable === 0 || (pdb.spec.minAvailable !== undefined && pdb.spec.minAvailable >= dep.spec.replicas)) {
      errors.push("the PodDisruptionBudget never lets a node drain take a pod");
    }
  }
  for (const sm of byKind("ServiceMonitor")) {
    if (!matches(sm.spec.selector, svc.metadata.labels)) errors.push("the ServiceMonitor's selector does not match the Service's labels");
    for (const ep of sm.spec.endpoints ?? []) {
      if (!svc.spec.ports.some((p) => p.name === ep.port)) errors.push(`the ServiceMonitor scrapes port ${ep.port}, which the Service does not name`);
      if ((ep.path ?? "/metrics") !== "/metrics") errors.push(`the ServiceMonitor scrapes ${ep.path}, not /metrics`);
    }
  }
  for (const hpa of byKind("HorizontalPodAutoscaler")) {
    const t = hpa.spec.scaleTargetRef;
    if (t.kind !== "Deployment" || t.name !== dep.metadata.name) errors.push("the HorizontalPodAutoscaler does not scale the Deployment");
  }

  const c = pod.spec.containers.find((x) => x.name === "switchyard") ?? pod.spec.containers[0];
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  const portOf = (p) => (typeof p === "number" ? p : ports.get(p));
  for (const p of svc.spec.ports) {
    if (portOf(p.targetPort ?? p.port) === undefined) errors.push(`the Service's targetPort ${p.targetPort} is not a container port`);
  }

  // The config the gateway is started with is the ConfigMap's.
  const args = [...(c.command ?? []), ...(c.args ?? [])];
  const configPath = args[args.indexOf("--config") + 1];
  if (!args.includes("--config") || !configPath) errors.push("the container is not given --config");
  let configText = null;
  for (const vm of c.volumeMounts ?? []) {
    const vol = pod.spec.volumes.find((v) => v.name === vm.name);
    if (!vol?.configMap || !configPath?.startsWith(vm.mountPath + "/")) continue;
    if (vol.configMap.name !== cm.metadata.name) continue;
    const rel = configPath.slice(vm.mountPath.length + 1);
    const item = (vol.configMap.items ?? []).find((i) => i.path === rel);
    const key = item ? item.key : rel;
    configText = cm.data?.[key] ?? null;
  }
  if (configText === null) {
    errors.push(`--config ${configPath} is not a key of the ConfigMap ${cm.metadata.name} mounted in the container`);
    return errors;
  }
  const config = YAML.parse(configText);
  const listenPort = Number(String(config.listen ?? "127.0.0.1:4000").split(":").pop());
  if (String(config.listen ?? "").startsWith("127.")) errors.push("the config listens on loopback: the probes and the Service cannot reach it");
  const probe = (name, pathWanted) => {
    const p = c[name]?.httpGet;
    if (!p) { errors.push(`the container has no ${name} httpGet`); return; }
    if (p.path !== pathWanted) errors.push(`${name} checks ${p.path}, not ${pathWanted}`);
    if (portOf(p.port) !== listenPort) errors.push(`${name} checks port ${p.port}, the config listens on ${listenPort}`);
  };
  probe("readinessProbe", "/health/ready");
  probe("livenessProbe", "/health/live");
  if (portOf("http") !== undefined && !Object.values(Object.fromEntries(ports)).includes(listenPort)) {
    errors.push(`no container port is the config's listen port ${listenPort}`);
  }

  // SIGKILL comes terminationGracePeriodSeconds after the preStop hook starts.
  const drainS = (config.drain_timeout_ms ?? 30000) / 1000;
  const pre = c.lifecycle?.preStop;
  let preS = 0;
  if (pre?.exec?.command?.[0] === "sleep") preS = Number(pre.exec.command[1]);
  else if (pre?.sleep) preS = pre.sleep.seconds;
  else errors.push("the container has no preStop wait (exec sleep or sleep)");
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  if (Number.isFinite(drainS) && !(grace > preS + drainS)) errors.push(`terminationGracePeriodSeconds ${grace} is not above the preStop wait (${preS} s) plus the drain (${drainS} s)`);

  const sc = { ...(pod.spec.securityContext ?? {}), ...(c.securityContext ?? {}) };
  if (sc.runAsNonRoot !== true) errors.push("runAsNonRoot is not set");
  if (sc.runAsUser === 0) errors.push("runAsUser is 0");
  if (sc.allowPrivilegeEscalation !== false) errors.push("allowPrivilegeEscalation is not false");
  if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) errors.push("the container has no memory request and limit");

  // Every Secret key the pod reads exists (or is optional), and the config passes --check
  // with the Secret's values in the environment.
  const secretData = new Map();
  for (const s of byKind("Secret")) {
    for (const [k, v] of Object.entries(s.stringData ?? {})) secretData.set(`${s.metadata.name}/${k}`, String(v));
    for (const [k, v] of Object.entries(s.data ?? {})) secretData.set(`${s.metadata.name}/${k}`, Buffer.from(v, "base64").toString());
  }
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref && !secretData.has(`${ref.name}/${ref.key}`)) errors.push(`env ${e.name} reads ${ref.name}/${ref.key}, which the Secret does not have`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-k8s-"));
  try {
    const file = path.join(dir, "switchyard.yaml");
    fs.writeFileSync(file, configText);
    const env = { PATH: process.env.PATH, ...envFor(secretData, c) };
    execFileSync(switchyard, ["--config", file, "--check"], { env, cwd: dir, stdio: "pipe" });
  } catch (e) {
    const said = `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() || e.message;
    errors.push(`switchyard --check refuses the ConfigMap's config: ${said}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return errors;
}

// ---- running them ---------------------------------------------------------------------------

function load(dir) {
  return fs.readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort().map((name) => {
    const p = path.join(dir, name);
    const docs = YAML.parseAllDocuments(fs.readFileSync(p, "utf8")).map((d) => {
      if (d.errors.length) throw new Error(`${name}: ${d.errors[0].message}`);
      return d.toJS();
    }).filter((d) => d !== null);
    return { name, path: p, docs };
  });
}

async function allErrors(files) {
  const errors = [];
  for (const f of files) {
    if (f.name === "kustomization.yaml") continue; // not an API object; checked below
    for (const doc of f.docs) {
      const label = `${f.name}: ${doc.kind ?? "?"} ${doc.metadata?.name ?? ""}`.trim();
      for (const e of await schemaErrors(doc)) errors.push(`${label}: ${e}`);
      for (const e of strictErrors(doc)) errors.push(`${label}: ${e}`);
    }
  }
  try {
    for (const e of checkSet(files)) errors.push(e);
  } catch (e) { // a manifest too broken for the checks to read: its schema errors say why
    errors.push(`the manifests could not be checked against each other: ${e.message}`);
  }
  return errors;
}

let failed = 0;
function report(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "not ok"} - ${what}${detail ? `\n    ${detail.replace(/\n/g, "\n    ")}` : ""}`);
  if (!ok) failed++;
}

const files = load(manifestDir);
const kinds = files.flatMap((f) => f.docs.map((d) => d.kind)).filter(Boolean);
console.log(`# ${files.length} files in ${manifestDir}: ${kinds.join(", ")}`);
for (const kind of ["Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "Kustomization"]) {
  report(kinds.includes(kind), `the manifests include a ${kind}`);
}
const errors = await allErrors(files);
report(errors.length === 0, "every manifest passes its schema, has no unknown field, and the pieces agree (switchyard --check included)", errors.join("\n"));

// Broken copies: each must be refused, with the error that names what is wrong.
const find = (fs_, kind) => fs_.flatMap((f) => f.docs).find((d) => d.kind === kind);
const container = (fs_) => find(fs_, "Deployment").spec.template.spec.containers[0];
const broken = [
  ["a replica count that is a string", /replicas must be integer/, (f) => { find(f, "Deployment").spec.replicas = "two"; }],
  ["a probe field misspelt", /httpGet\.pth: unknown field/, (f) => { const p = container(f).readinessProbe.httpGet; p.pth = p.path; delete p.path; }],
  ["a container field misspelt", /containers\[0\]\.readinesProbe: unknown field/, (f) => { const c = container(f); c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }],
  ["a Service port field misspelt", /ports\[0\]\.targetport: unknown field/, (f) => { find(f, "Service").spec.ports[0].targetport = 4000; }],
  ["a ServiceMonitor endpoints object instead of a list", /endpoints must be array/, (f) => { const s = find(f, "ServiceMonitor"); s.spec.endpoints = s.spec.endpoints[0]; }],
  ["a ServiceMonitor endpoint field misspelt", /endpoints\[0\]\.intervall: unknown field/, (f) => { find(f, "ServiceMonitor").spec.endpoints[0].intervall = "15s"; }],
  ["an HPA without a target", /required property .?scaleTargetRef/, (f) => { delete find(f, "HorizontalPodAutoscaler").spec.scaleTargetRef; }],
  ["a grace period shorter than preStop plus the drain", /terminationGracePeriodSeconds 30 is not above/, (f) => { find(f, "Deployment").spec.template.spec.terminationGracePeriodSeconds = 30; }],
  ["a Service selecting other pods", /Service's selector does not match/, (f) => { find(f, "Service").spec.selector = { app: "other" }; }],
  ["a readiness probe on the liveness path", /readinessProbe checks \/health\/live/, (f) => { container(f).readinessProbe.httpGet.path = "/health/live"; }],
  ["a pod allowed to run as root", /runAsNonRoot is not set/, (f) => { delete find(f, "Deployment").spec.template.spec.securityContext.runAsNonRoot; }],
  ["an env var reading a key the Secret lacks", /reads switchyard-keys\/OPENAI_KEY/, (f) => { container(f).env[0].valueFrom.secretKeyRef.key = "OPENAI_KEY"; }],
  ["a config switchyard --check refuses", /--check refuses .*unknown/i, (f) => { const cm = find(f, "ConfigMap"); cm.data["switchyard.yaml"] += "\nlisten_port: 4000\n"; }],
  ["a master key too short in the Secret", /--check refuses/, (f) => { find(f, "Secret").stringData.SWITCHYARD_MASTER_KEY = "short"; }],
  ["the shared store chosen without its database URL", /--check refuses .*store: postgres needs the database's URL/s, (f) => { find(f, "Secret").stringData.SWITCHYARD_STATE_STORE = "postgres"; }],
  ["a Redis URL that is not one", /--check refuses .*state\.redis\.url: expected a redis:\/\//s, (f) => { Object.assign(find(f, "Secret").stringData, { SWITCHYARD_STATE_STORE: "postgres", SWITCHYARD_DATABASE_URL: "postgresql://h/db", SWITCHYARD_REDIS_URL: "cache:6379" }); }],
  ["a config listening on loopback", /listens on loopback/, (f) => { const cm = find(f, "ConfigMap"); cm.data["switchyard.yaml"] = cm.data["switchyard.yaml"].replace("listen: 0.0.0.0:4000", "listen: 127.0.0.1:4000"); }],
  ["a kustomization listing a missing file", /lists missing\.yaml, which does not exist/, (f) => { f.find((x) => x.name === "kustomization.yaml").docs[0].resources.push("missing.yaml"); }],
];
for (const [what, expected, mutate] of broken) {
  const copy = structuredClone(files);
  mutate(copy);
  const errs = await allErrors(copy);
  const hit = errs.some((e) => expected.test(e));
  report(hit, `refuses ${what}`, hit ? "" : `expected ${expected}, got:\n${errs.join("\n") || "(no error)"}`);
}

// The shared store as the Secret's comment says to fill it in: --check accepts it.
{
  const copy = structuredClone(files);
  Object.assign(find(copy, "Secret").stringData, {
    SWITCHYARD_STATE_STORE: "postgres",
    SWITCHYARD_DATABASE_URL: "postgresql://switchyard:pw@postgres.db.svc:5432/switchyard",
    SWITCHYARD_REDIS_URL: "redis://:pw@redis.cache.svc:6379/0",
  });
  const errs = await allErrors(copy);
  report(errs.length === 0, "the Secret filled in for several replicas (PostgreSQL and Redis): the config passes switchyard --check", errs.join("\n"));
}

const total = 8 + 1 + broken.length + 1;
console.log(`${total - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
