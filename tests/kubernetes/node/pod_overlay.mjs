// What a test overlay does to rendered objects so podman can run them on this
// machine (tests/kubernetes/podman_smoke_test.sh), for objects kustomize
// cannot rewrite this way (a Job becomes a Pod: podman kube play rejects kind
// Job):
//   node pod_overlay.mjs job-to-pod IN OUT HOSTDIR DATABASE STORE
// writes the ConfigMaps of IN and, for each Job, a Pod named after it with
// the Job's pod template (restartPolicy Never), hostNetwork, the glue Secret's
// variables as plain values (podman cannot read a Kubernetes Secret through
// secretKeyRef here) and HOSTDIR mounted at the same path (the test's
// control plane home: its SQLite database and file store).
import { readFileSync, writeFileSync } from "node:fs";
import yaml from "js-yaml";
import { parseObjects } from "./validate.mjs";

const [mode, input, output, hostDir, database, store] = process.argv.slice(2);
if (mode !== "job-to-pod" || !store) {
  console.error("usage: node pod_overlay.mjs job-to-pod IN OUT HOSTDIR DATABASE STORE");
  process.exit(2);
}
const values = { TANDEM_DATABASE: database, TANDEM_STORE: store };
const out = [];
for (const o of parseObjects(readFileSync(input, "utf8"))) {
  if (o.kind === "ConfigMap") {
    out.push(o);
    continue;
  }
  if (o.kind !== "Job") continue;
  const spec = structuredClone(o.spec.template.spec);
  spec.hostNetwork = true;
  spec.volumes.push({ name: "host", hostPath: { path: hostDir, type: "Directory" } });
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    c.env = (c.env ?? [])
      .filter((e) => !e.valueFrom?.secretKeyRef || e.name in values)
      .map((e) => (e.valueFrom?.secretKeyRef ? { name: e.name, value: values[e.name] } : e));
    c.volumeMounts = [...(c.volumeMounts ?? []), { name: "host", mountPath: hostDir }];
    delete c.ports;
  }
  out.push({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: o.metadata.name, labels: o.spec.template.metadata.labels },
    spec,
  });
}
writeFileSync(output, out.map((o) => "---\n" + yaml.dump(o)).join(""));
