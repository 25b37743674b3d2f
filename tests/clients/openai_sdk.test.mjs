// The official openai SDK, pointed at the gateway by its base URL only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway } from './harness.mjs';

let gw;
let client;
before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-client-key', maxRetries: 0 });
});
after(async () => gw && gw.stop());

const usage = { prompt_tokens: 42, completion_tokens: 7, cached_tokens: 2, reasoning_tokens: 0 };

test('plain chat completion: content and usage', async () => {
  const completion = await client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Say hello' }],
    mock: { text: 'Hello from the mock upstream', chunks: 3, usage },
  });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices[0].message.content, 'Hello from the mock upstream');
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.equal(completion.usage.prompt_tokens, 42);
  assert.equal(completion.usage.completion_tokens, 7);
  assert.equal(completion.usage.prompt_tokens_details.cached_tokens, 2);
});

test('streaming chat completion: deltas assemble the text, no usage chunk unless asked', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    mock: { text: 'one two three four five', chunks: 5, usage },
  });
  let text = '';
  let chunks = 0;
  let sawUsage = false;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) sawUsage = true;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'one two three four five');
  assert.equal(sawUsage, false);
  assert.equal(chunks, 1 + 5 + 1);
});

test('streaming with include_usage: the usage chunk arrives last', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Say hello' }],
    stream: true,
    stream_options: { include_usage: true },
    mock: { chunks: 2, usage },
  });
  let last;
  for await (const chunk of stream) last = chunk;
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 42);
  assert.equal(last.usage.completion_tokens, 7);
});

test('the stream helper assembles the final message', async () => {
  const runner = client.chat.completions.stream({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Say hello' }],
    mock: { text: 'assembled by the SDK', chunks: 3 },
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'assembled by the SDK');
});

test('errors surface as the SDK exception classes', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === 'model_not_found',
  );
  await assert.rejects(
    client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'x' }],
      mock: { fault: 'status', status: 429 },
    }),
    (err) => err instanceof OpenAI.RateLimitError && err.status === 429,
  );
  await assert.rejects(
    client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'x' }],
      mock: { fault: 'status', status: 500 },
    }),
    (err) => err instanceof OpenAI.InternalServerError,
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-test', messages: [] }),
    (err) => err instanceof OpenAI.BadRequestError && err.param === 'messages',
  );
});

test('a stream cut by the upstream raises an APIError in the SDK', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'x' }],
    stream: true,
    mock: { fault: 'cut', chunks: 5, cut_after: 2 },
  });
  await assert.rejects(async () => {
    for await (const chunk of stream) void chunk;
  }, (err) => err instanceof OpenAI.APIError);
});

test('models list', async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.deepEqual(models, ['gpt-test']);
});
