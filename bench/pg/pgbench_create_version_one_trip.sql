-- pgbench's version of one registry version creation as SqlModelRegistry
-- sends it on PostgreSQL when the control plane knows the model's last
-- version and the routing rules (sql_create_version.cc): one round trip,
-- BEGIN to COMMIT in one pipeline. The same statements as
-- pgbench_create_version_pipelined.sql otherwise, with the rule lookup
-- replaced by the rules-version check (a one-row read) and the counter
-- bump by a checked one (here unchecked: pgbench cannot carry the number
-- from one transaction to the next; the work is the same UPDATE).
\set model :client_id % :models
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_advisory_xact_lock(hashtextextended('registry/model/bench-model-' || :model, 0));
WITH touched AS (UPDATE bench_models SET updated_micros = updated_micros + 1 WHERE name = 'bench-model-' || :model RETURNING name) INSERT INTO bench_counters (name, last_version) SELECT name, 1 FROM touched ON CONFLICT (name) DO UPDATE SET last_version = bench_counters.last_version + 1 RETURNING last_version;
INSERT INTO bench_versions (name, version, source, lineage, created_micros) VALUES ('bench-model-' || :model, (SELECT last_version FROM bench_counters WHERE name = 'bench-model-' || :model), 'sha256' || ':' || repeat('a', 64), repeat('l', 200), 0);
INSERT INTO bench_version_tags (name, version, tag_key, tag_value) VALUES ('bench-model-' || :model, (SELECT last_version FROM bench_counters WHERE name = 'bench-model-' || :model), 'thread', :client_id);
INSERT INTO bench_events (id, body, published_ms) VALUES (gen_random_uuid()::text, repeat('e', 600), 0);
SELECT count(*) FROM bench_rules;
COMMIT;
\endpipeline
