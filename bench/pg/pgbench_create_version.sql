-- pgbench's version of one registry version creation: the statements
-- SqlModelRegistry::CreateVersion sends on PostgreSQL, in order (keyed lock,
-- model touch, counter upsert, version row, tag row, event row, rule lookup),
-- one round trip each. -D models=1: every client on one model; models=100:
-- a model per client (up to 100 clients).
\set model :client_id % :models
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_advisory_xact_lock(hashtextextended('registry/model/bench-model-' || :model, 0));
UPDATE bench_models SET updated_micros = updated_micros + 1 WHERE name = 'bench-model-' || :model;
INSERT INTO bench_counters (name, last_version) VALUES ('bench-model-' || :model, 1) ON CONFLICT (name) DO UPDATE SET last_version = bench_counters.last_version + 1 RETURNING last_version \gset
INSERT INTO bench_versions (name, version, source, lineage, created_micros) VALUES ('bench-model-' || :model, :last_version, 'sha256' || ':' || repeat('a', 64), repeat('l', 200), 0);
INSERT INTO bench_version_tags (name, version, tag_key, tag_value) VALUES ('bench-model-' || :model, :last_version, 'thread', :client_id);
INSERT INTO bench_events (id, body, published_ms) VALUES (gen_random_uuid()::text, repeat('e', 600), 0) ON CONFLICT (id) DO NOTHING RETURNING seq;
SELECT pattern FROM bench_rules ORDER BY name;
COMMIT;
