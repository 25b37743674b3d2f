// Starts the mock upstream and the gateway as real processes on 127.0.0.1 for SDK tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function start(bin, args, env = {}) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = new Promise((resolve, reject) => {
    const onData = (data) => {
      output += data.toString();
      const match = output.match(/listening on (?:https?:\/\/)?127\.0\.0\.1:(\d+)/);
      if (match) resolve(Number(match[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${bin} exited with ${code}: ${output}`)));
  });
  return { child, port, output: () => output };
}

// One provider of every type, all in front of the same mock upstream, each with a model
// named m-<provider>; and m-failover, whose first target (an OpenAI-type provider on a closed
// port) refuses every connection, so the Anthropic-type second target serves (a breaker that
// does not open, so every request meets the failure first).
const allProviders = (mockPort) => `
  - name: compat
    type: openai_compatible
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: sk-upstream-secret
  - name: openai
    type: openai
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: sk-upstream-secret
  - name: azure
    type: azure
    base_url: http://127.0.0.1:${mockPort}
    api_key: azure-upstream-secret
  - name: anthropic
    type: anthropic
    base_url: http://127.0.0.1:${mockPort}
    api_key: sk-ant-upstream-secret
  - name: gemini
    type: gemini
    base_url: http://127.0.0.1:${mockPort}/v1beta
    api_key: gemini-upstream-secret
  - name: dead
    type: openai_compatible
    base_url: http://127.0.0.1:1/v1
    api_key: sk-dead-upstream-secret`;
const allModels = `
  - {name: m-compat, provider: compat, model: compat-upstream}
  - {name: m-openai, provider: openai, model: gpt-upstream}
  - {name: m-azure, provider: azure, model: azure-deployment}
  - {name: m-anthropic, provider: anthropic, model: claude-upstream}
  - {name: m-gemini, provider: gemini, model: gemini-upstream}
  - name: m-failover
    strategy: ordered
    cooldown: {failures: 1000}
    targets:
      - {provider: dead, model: dead-upstream}
      - {provider: anthropic, model: claude-upstream}`;

// governance: a master key and a store in the scratch directory; the admin API is then at
// `admin(path, body)` (the master key's calls).
const masterKey = 'master-key-for-the-sdk-tests-0123456789';

export async function startGateway({ allProviders: every = false, mockArgs = [], governance = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sdk-'));
  const mock = start(process.env.SWITCHYARD_MOCK_UPSTREAM_BIN, ['--listen', '127.0.0.1:0', ...mockArgs]);
  const mockPort = await mock.port;
  const governed = governance
    ? `governance:\n  master_key: ${masterKey}\n  database: ${join(dir, 'gov.db')}\n`
    : '';
  const config = `listen: 127.0.0.1:0
workers: 2
access_log: off
${governed}providers:
  - name: upstream
    type: openai_compatible
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: sk-upstream-secret${every ? allProviders(mockPort) : ''}
models:
  - name: gpt-test
    provider: upstream
    model: upstream-model-id
    price: {input_per_mtok: 2, output_per_mtok: 8}${every ? allModels : ''}
`;
  writeFileSync(join(dir, 'switchyard.yaml'), config);
  const gateway = start(process.env.SWITCHYARD_BIN, ['--config', join(dir, 'switchyard.yaml')]);
  const port = await gateway.port;
  return {
    port,
    mockPort,
    baseURL: `http://127.0.0.1:${port}/v1`,
    rootURL: `http://127.0.0.1:${port}`,
    // One admin API call with the master key: the parsed JSON answer, or a thrown error.
    async admin(path, body) {
      const res = await fetch(`http://127.0.0.1:${port}/admin/${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    async stop() {
      for (const p of [gateway.child, mock.child]) {
        if (p.exitCode === null) {
          const exited = new Promise((resolve) => p.once('exit', resolve));
          p.kill('SIGTERM');
          await exited;
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
