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
import { pathToFileURL } from "node:url";
import yaml from "js-yaml";

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
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z]+$/.test(kind) ||
      !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) {
    return null;
  }
  try {
    const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
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

// What the API server's validation refuses and the schema lets through:
// negative counts, int-or-string fields whose string is not a percentage.
function checkNumbers(name, o, problems) {
  const percentOrCount = (v) =>
    v === undefined || (Number.isInteger(v) && v >= 0) || (typeof v === "string" && /^[0-9]+%$/.test(v));
  if (o.spec?.replicas !== undefined && !(Number.isInteger(o.spec.replicas) && o.spec.replicas >= 0)) {
    problems.push(`${name}: spec.replicas must be an integer >= 0, got ${JSON.stringify(o.spec.replicas)}`);
  }
  const ints = {
    PodDisruptionBudget: ["minAvailable", "maxUnavailable"],
    Deployment: [],
  }[o.kind] ?? [];
  for (const f of ints) {
    if (!percentOrCount(o.spec?.[f])) {
      problems.push(`${name}: spec.${f} must be a count >= 0 or a percentage, got ${JSON.stringify(o.spec[f])}`);
    }
  }
  const ru = o.kind === "Deployment" ? o.spec?.strategy?.rollingUpdate : undefined;
  for (const f of ["maxSurge", "maxUnavailable"]) {
    if (ru && !percentOrCount(ru[f])) {
      problems.push(`${name}: spec.strategy.rollingUpdate.${f} must be a count >= 0 or a percentage, got ${JSON.stringify(ru[f])}`);
    }
  }
  if (ru && ru.maxSurge === 0 && ru.maxUnavailable === 0) {
    problems.push(`${name}: spec.strategy.rollingUpdate: maxSurge and maxUnavailable cannot both be 0`);
  }
  for (const f of ["backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"]) {
    const v = o.kind === "Job" ? o.spec?.[f] : undefined;
    if (v !== undefined && !(Number.isInteger(v) && v >= (f === "activeDeadlineSeconds" ? 1 : 0))) {
      problems.push(`${name}: spec.${f} must be a non-negative integer, got ${JSON.stringify(v)}`);
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
    // A Secret's base64 may be wrapped over lines (kustomize does): the
    // API server's decoder skips the newlines, the schema's "byte" does not.
    let checked = o;
    if (o.kind === "Secret" && o.data && typeof o.data === "object") {
      checked = structuredClone(o);
      for (const [k, v] of Object.entries(checked.data)) {
        if (typeof v === "string") checked.data[k] = v.replace(/[\r\n]/g, "");
      }
    }
    try {
      new Cls(checked).validate();
    } catch (e) {
      problems.push(`${name}: ${e.message}`);
      continue;
    }
    checkNumbers(name, o, problems);
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
