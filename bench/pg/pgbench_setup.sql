-- Tables shaped like the registry's and the SQL bus's (the columns a version
-- creation writes), for pgbench_create_version.sql (run.sh).
DROP TABLE IF EXISTS bench_models, bench_counters, bench_versions, bench_version_tags,
  bench_events, bench_rules;
CREATE TABLE bench_models (name TEXT PRIMARY KEY, updated_micros BIGINT NOT NULL);
CREATE TABLE bench_counters (name TEXT PRIMARY KEY, last_version BIGINT NOT NULL);
CREATE TABLE bench_versions (name TEXT NOT NULL REFERENCES bench_models (name),
  version BIGINT NOT NULL, source TEXT NOT NULL, lineage TEXT NOT NULL,
  created_micros BIGINT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE bench_version_tags (name TEXT NOT NULL, version BIGINT NOT NULL,
  tag_key TEXT NOT NULL, tag_value TEXT NOT NULL, PRIMARY KEY (name, version, tag_key),
  FOREIGN KEY (name, version) REFERENCES bench_versions (name, version));
CREATE TABLE bench_events (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL, published_ms BIGINT NOT NULL);
CREATE TABLE bench_rules (name TEXT PRIMARY KEY, pattern TEXT NOT NULL);
INSERT INTO bench_models SELECT 'bench-model-' || i, 0 FROM generate_series(0, 99) i;
