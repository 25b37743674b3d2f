-- Switchyard's governance store on PostgreSQL, version 1: teams, keys, the audit log and the
-- spend ledger, shared by every replica. Applied once, in one transaction, under an advisory
-- lock (proxy/postgres_store.cpp); each later file is the next version and never edits this one.
--
-- Lists, budgets' periods and model limits are JSON text, byte for byte as the gateway wrote
-- them, like the SQLite store's. Text that is sorted or grouped for a report is compared with
-- COLLATE "C" in the queries, so the order does not depend on the server's locale.

CREATE TABLE teams (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  budget_max bigint, budget_soft bigint, budget_period text, budget_anchor_s bigint,
  rpm bigint NOT NULL, tpm bigint NOT NULL, parallel bigint NOT NULL,
  models_json text NOT NULL,
  blocked boolean NOT NULL,
  metadata_json text NOT NULL,
  created_s bigint NOT NULL);

CREATE TABLE keys (
  id text PRIMARY KEY,
  alias text NOT NULL,
  hash bytea NOT NULL UNIQUE,  -- SHA-256 of the secret; the secret is never stored
  hint text NOT NULL,
  role text NOT NULL,
  team_id text NOT NULL,
  end_user text NOT NULL,
  models_json text NOT NULL,
  budget_max bigint, budget_soft bigint, budget_period text, budget_anchor_s bigint,
  rpm bigint NOT NULL, tpm bigint NOT NULL, parallel bigint NOT NULL,
  model_limits_json text NOT NULL,
  tags_json text NOT NULL,
  metadata_json text NOT NULL,
  expires_s bigint,
  blocked boolean NOT NULL,
  created_s bigint NOT NULL);
CREATE UNIQUE INDEX keys_alias ON keys (alias) WHERE alias <> '';

CREATE TABLE audit (
  id bigserial PRIMARY KEY,
  time_ms bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail_json text NOT NULL);
CREATE INDEX audit_time ON audit (time_ms);

-- One row per request, written by each replica's ledger writer in batches (COPY).
CREATE TABLE ledger (
  request_id text NOT NULL,
  time_ms bigint NOT NULL,
  key_id text NOT NULL,
  team_id text NOT NULL,
  end_user text NOT NULL,
  tags_json text NOT NULL,
  model text NOT NULL,
  provider text NOT NULL,
  input_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  cached_tokens bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  cost bigint NOT NULL,  -- micro-dollars
  latency_ms bigint NOT NULL,
  ttft_ms bigint,
  status integer NOT NULL,
  error text NOT NULL);
CREATE INDEX ledger_time ON ledger (time_ms);
CREATE INDEX ledger_request ON ledger (request_id);

-- The ledger's sums per UTC day: spend since a time reads whole days here.
CREATE TABLE ledger_daily (
  day date NOT NULL,
  key_id text NOT NULL,
  team_id text NOT NULL,
  model text NOT NULL,
  provider text NOT NULL,
  requests bigint NOT NULL,
  errors bigint NOT NULL,
  input_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  cached_tokens bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  cost bigint NOT NULL,
  PRIMARY KEY (day, key_id, team_id, model, provider));
CREATE INDEX ledger_daily_key ON ledger_daily (key_id, day);
CREATE INDEX ledger_daily_team ON ledger_daily (team_id, day);

-- The batches written, by the id their writer gave them: a batch sent again (its commit's
-- answer was lost, or it waited in the spool) is recognised and not counted twice.
CREATE TABLE ledger_batches (
  id text PRIMARY KEY,
  rows integer NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now());
