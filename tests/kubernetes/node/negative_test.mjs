// The validator must refuse broken objects: each case below breaks one valid
// rendered serving deployment (FILE: a YAML stream with a Deployment,
// Service, PodDisruptionBudget and HorizontalPodAutoscaler) in one way and
// expects validateObjects to name the problem; the unbroken set must pass.
// Usage: node negative_test.mjs FILE
import { readFileSync } from "node:fs";
import { parseObjects, validateObjects } from "./validate.mjs";

const base = parseObjects(readFileSync(process.argv[2], "utf8"));
const find = (objs, kind) => objs.find((o) => o.kind === kind);
const container = (objs) => find(objs, "Deployment").spec.template.spec.containers[0];

const cases = [
  ["a wrong CPU quantity", (o) => { container(o).resources.requests.cpu = "2x"; }, /cpu/],
  ["a wrong memory quantity", (o) => { container(o).resources.requests.memory = "1GB"; }, /memory/],
  ["a Deployment without selector", (o) => { delete find(o, "Deployment").spec.selector; }, /selector/],
  ["pod labels that do not match the selector",
   (o) => { find(o, "Deployment").spec.template.metadata.labels["app.kubernetes.io/instance"] = "other"; },
   /does not match the pod template/],
  ["a Service selecting no pods",
   (o) => { find(o, "Service").spec.selector["app.kubernetes.io/instance"] = "other"; }, /selects no pod/],
  ["a budget without selector", (o) => { delete find(o, "PodDisruptionBudget").spec.selector; }, /selector/],
  ["a budget selecting no pods",
   (o) => { find(o, "PodDisruptionBudget").spec.selector.matchLabels["app.kubernetes.io/name"] = "x"; },
   /selects no pod/],
  ["an autoscaler aimed at nothing",
   (o) => { find(o, "HorizontalPodAutoscaler").spec.scaleTargetRef.name = "nope"; }, /scaleTargetRef/],
  ["a wrong HPA target quantity",
   (o) => { find(o, "HorizontalPodAutoscaler").spec.metrics[0].pods.target.averageValue = "four"; },
   /averageValue/],
  ["a probe on an unlisted port", (o) => { container(o).livenessProbe.httpGet.port = 1; }, /port 1/],
  ["a mount of an undeclared volume",
   (o) => { container(o).volumeMounts.push({ name: "ghost", mountPath: "/x" }); }, /ghost/],
  ["a container without name", (o) => { delete container(o).name; }, /name/],
  ["a negative replica count", (o) => { find(o, "Deployment").spec.replicas = -1; }, /replicas/],
  ["a non-numeric budget",
   (o) => { find(o, "PodDisruptionBudget").spec.minAvailable = "one"; }, /minAvailable/],
  ["an unknown kind", (o) => { o.push({ apiVersion: "v1", kind: "Gadget", metadata: { name: "g" } }); },
   /unknown apiVersion/],
];

let passed = 0;
let failed = 0;
const clean = await validateObjects(structuredClone(base));
if (clean.length === 0) passed++;
else {
  failed++;
  console.error(`FAIL: the unbroken objects do not validate: ${clean.join("; ")}`);
}
for (const [what, breakIt, want] of cases) {
  const objs = structuredClone(base);
  breakIt(objs);
  const problems = await validateObjects(objs);
  if (problems.some((p) => want.test(p))) {
    passed++;
    console.log(`ok: ${what} is refused: ${problems[0]}`);
  } else {
    failed++;
    console.error(`FAIL: ${what} was not refused as ${want}: ${JSON.stringify(problems)}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
