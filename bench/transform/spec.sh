# Sourced by bench/transform/run.sh and bench/compute/transform_cp.sh: the one
# transform spec both benchmarks submit (the registered bench-forest model over
# the datasets/bench prefix of the store, two workers, 6 MB payloads).
# write_transform_spec FILE OUTPUT_PREFIX
write_transform_spec() {
  cat >"$1" <<YAML
name: bench-transform
team: bench
model: bench-forest@champion
input: {uri: datasets/bench, content_type: text/csv}
batch_strategy: MultiRecord
max_payload_mb: 6
max_concurrent_transforms: 2
output: {prefix: $2}
resources: {cpus: 2}
max_runtime_seconds: 3600
YAML
}
