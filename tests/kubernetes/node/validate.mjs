// Validates Kubernetes objects against the Kubernetes OpenAPI schemas (the
// npm package kubernetes-models, pinned in package-lock.json) and checks what
// a schema cannot express across objects:
//   - a workload's selector (Deployment, Job with manual selector) matches
//     its pod template's labels;
//   - every Service and PodDisruptionBudget selector selects the pods of a
//     workload in the same set, every HPA targets a Deployment in it;
//   - every container port a probe names exists (numeric ports: when the
//     container lists ports at all), every volumeMount names a volume.
// Usage: node validate.mjs FILE...   (YAML streams or JSON Lists; '-' = stdin)
// Exits 1 naming every problem (file, object, path), 0 printing a summary.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import yaml from "js-yaml";

const require = createRequire(import.meta.url);

// Every object in a YAML stream or JSON document (a List is flattened).
export function parseObjects(text) {
  const out = [];
  for (const doc of yaml.loadAll(text)) {
    if (doc === null || doc === undefined) continue;
    if (doc.kind === "List" && Array.isArray(doc.items)) out.push(...doc.items);
    else out.push(doc);
  }
  return out;
}

async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z]+$/.test(kind)) {
    return null;
  }
  const spec = `kubernetes-models/${apiVersion}/${kind}`;
  let path;
  try {
    path = require.resolve(spec);
  } catch {
    try {
      path = require.resolve(`${spec}.js`);
    } catch {
      return null;
    }
  }
  const mod = await import(pathToFileURL(path).href);
  return mod[kind] ?? null;
}

function describe(o) {
  return `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;
}

function selects(selector, labels) {
  if (!selector || typeof selector !== "object" || Object.keys(selector).length === 0) return false;
  labels = labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function podSpecOf(o) {
  if (o.kind === "Pod") return { labels: o.metadata?.labels, spec: o.spec };
  const t = o.spec?.template;
  if (o.kind === "CronJob") {
    const jt = o.spec?.jobTemplate?.spec?.template;
    return jt ? { labels: jt.metadata?.labels, spec: jt.spec } : null;
  }
  return t ? { labels: t.metadata?.labels, spec: t.spec } : null;
}

function checkPod(name, pod, problems) {
  const volumes = new Set((pod.spec?.volumes ?? []).map((v) => v.name));
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  for (const c of containers) {
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) problems.push(`${name}: container ${c.name} mounts volume '${m.name}' that the pod does not declare`);
    }
    const ports = c.ports ?? [];
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const p = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
      if (p === undefined) continue;
      if (typeof p === "string" && !ports.some((x) => x.name === p)) {
        problems.push(`${name}: ${c.name}.${probe} uses port '${p}' that the container does not name`);
      }
      if (typeof p === "number" && ports.length > 0 && !ports.some((x) => x.containerPort === p)) {
        problems.push(`${name}: ${c.name}.${probe} uses port ${p} that the container does not list`);
      }
    }
  }
}

// Problems (strings) of a set of objects; [] when all is well.
export async function validateObjects(objects) {
  const problems = [];
  const workloads = [];
  for (const o of objects) {
    const name = describe(o);
    const Cls = await modelClass(o?.apiVersion, o?.kind);
    if (!Cls) {
      problems.push(`${name}: unknown apiVersion/kind ${o?.apiVersion}/${o?.kind}`);
      continue;
    }
    try {
      new Cls(o).validate();
    } catch (e) {
      problems.push(`${name}: ${e.message}`);
      continue;
    }
    const pod = podSpecOf(o);
    if (!pod) continue;
    checkPod(name, pod, problems);
    workloads.push({ o, pod });
    const sel = o.spec?.selector?.matchLabels;
    const needsSelector = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"].includes(o.kind);
    if (needsSelector || (o.kind === "Job" && o.spec?.manualSelector)) {
      if (!selects(sel, pod.labels)) {
        problems.push(`${name}: spec.selector.matchLabels ${JSON.stringify(sel ?? null)} does not match the pod template's labels ${JSON.stringify(pod.labels ?? null)}`);
      }
    }
  }
  for (const o of objects) {
    const name = describe(o);
    if (o?.kind === "Service" && o.spec?.selector) {
      if (workloads.length > 0 && !workloads.some((w) => selects(o.spec.selector, w.pod.labels))) {
        problems.push(`${name}: spec.selector ${JSON.stringify(o.spec.selector)} selects no pod template in this set`);
      }
    }
    if (o?.kind === "PodDisruptionBudget") {
      const sel = o.spec?.selector?.matchLabels;
      if (!sel) problems.push(`${name}: spec.selector.matchLabels is missing (a budget must select its pods)`);
      else if (workloads.length > 0 && !workloads.some((w) => selects(sel, w.pod.labels))) {
        problems.push(`${name}: spec.selector.matchLabels ${JSON.stringify(sel)} selects no pod template in this set`);
      }
    }
    if (o?.kind === "HorizontalPodAutoscaler") {
      const ref = o.spec?.scaleTargetRef ?? {};
      if (!objects.some((t) => t?.kind === ref.kind && t?.metadata?.name === ref.name)) {
        problems.push(`${name}: spec.scaleTargetRef ${ref.kind}/${ref.name} is not in this set`);
      }
    }
  }
  return problems;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node validate.mjs FILE...");
    process.exit(2);
  }
  let failed = false;
  for (const f of files) {
    const text = readFileSync(f === "-" ? 0 : f, "utf8");
    let objects;
    try {
      objects = parseObjects(text);
    } catch (e) {
      console.error(`FAIL ${f}: not YAML/JSON: ${e.message}`);
      failed = true;
      continue;
    }
    if (objects.length === 0) {
      console.error(`FAIL ${f}: no objects`);
      failed = true;
      continue;
    }
    const problems = await validateObjects(objects);
    for (const p of problems) console.error(`FAIL ${f}: ${p}`);
    if (problems.length > 0) failed = true;
    else console.log(`ok ${f}: ${objects.map(describe).join(", ")}`);
  }
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
