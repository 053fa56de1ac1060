// The shapes of the REST API responses the console reads (docs/openapi.yaml).

export interface Job {
  id: string;
  name: string;
  team: string;
  state: string;
  attempt: number;
  max_attempts: number;
  created: string;
  created_micros: number;
  started?: string;
  ended?: string;
  duration_seconds?: number;
  failure_reason?: string;
  metering: { wall_seconds: number; cpu_seconds: number; peak_rss_bytes: number; cost: number; warm_pool_seconds: number };
  spec: JobSpec;
  model?: { key: string; digest: string };
  registered?: { name: string; version: number | string; alias?: string };
  metrics?: Record<string, number>;
  inputs?: Record<string, { uri?: string; digest?: string } | string>;
  [key: string]: unknown;
}

export interface JobSpec {
  name: string;
  team?: string;
  kind?: string;
  image?: string;
  entry_point?: string;
  hyperparameters?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  metric_definitions?: { name: string; regex: string }[];
  resources?: { cpus?: number; memory_mb?: number };
  register?: { model: string; alias?: string };
  [key: string]: unknown;
}

export interface MetricPoint {
  attempt: number;
  step: number;
  value: number;
  timestamp: string;
}

export interface BusEvent {
  seq: number;
  id: string;
  version: string;
  'detail-type': string;
  source: string;
  time: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export interface Model {
  name: string;
  description: string;
  owner_team: string;
  tags: Record<string, string>;
  aliases: { alias: string; version: number }[];
  latest_version: number;
  last_updated_timestamp: number;
}

export interface ModelVersion {
  name: string;
  version: string;
  source: string;
  status: string;
  lineage: {
    job_id: string;
    code_digest: string;
    image_digest: string;
    inputs: Record<string, string>;
    hyperparameters: Record<string, string>;
    metrics: Record<string, number>;
  };
  tags: Record<string, string>;
  aliases: string[];
  creation_timestamp: number;
}

export interface Replica {
  index: number;
  pid: number;
  state: string;
  ready: boolean;
  version: number;
  restarts: number;
  admin_port: number;
}

export interface Deployment {
  spec: {
    name: string;
    model: string;
    team?: string;
    replicas: { min: number; max: number };
    traffic?: unknown;
    shadow?: unknown;
    canary?: unknown;
    [key: string]: unknown;
  };
  desired: number;
  ready: number;
  endpoint: string;
  replicas: Replica[];
  [key: string]: unknown;
}

// GET /api/v1/deployments/{name}/metrics: one scrape of every replica.
export interface ReplicaSample {
  index: number;
  state?: string;
  version?: number;
  ready?: boolean;
  requests?: number;
  failures?: number;
  in_flight?: number;
  latency?: { bounds: number[]; cumulative: number[]; count: number; sum: number };
  error?: string;
}

export interface DeploymentMetrics {
  deployment: string;
  time_ms: number;
  replicas: ReplicaSample[];
}

export interface TuningJob {
  name: string;
  id: string;
  team: string;
  state: string;
  strategy: string;
  objective: { metric: string; type: 'Maximize' | 'Minimize' };
  max_jobs: number;
  trials: Record<string, number>;
  best_trial: Trial | null;
  created: string;
  registered?: { model: string; version: number };
}

export interface Trial {
  index: number;
  job_name: string;
  job_id: string;
  params: Record<string, unknown>;
  state: string;
  objective: number | null;
  cpu_seconds: number;
  rung?: number;
  failure_reason?: string;
}

export interface Notebook {
  name: string;
  team: string;
  state: string;
  [key: string]: unknown;
}

export interface Status {
  time: string;
  jobs?: { total: number; by_state: Record<string, number> };
  spend?: { team: string; jobs: number; cpu_seconds: number; wall_seconds: number; cost: number }[];
  deployments: { name: string; model: string; desired: number; ready: number; endpoint: string; versions: number[] }[];
  queues: { name: string; visible: number; in_flight: number; delayed: number }[];
  models: { count: number };
}
