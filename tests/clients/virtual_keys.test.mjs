// The official openai and @anthropic-ai/sdk SDKs with a Switchyard virtual key (issue 12): the
// key as each SDK sends it (OpenAI's Bearer, Anthropic's x-api-key and authToken Bearer), and
// the gateway's refusals as the error classes the SDKs raise.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway } from './harness.mjs';

let gw;
let key;
let narrow;
let poor;
before(async () => {
  gw = await startGateway({ allProviders: true, governance: true });
  key = (await gw.admin('keys', { alias: 'sdk' })).secret;
  narrow = (await gw.admin('keys', { alias: 'narrow', models: ['m-anthropic'] })).secret;
  poor = (await gw.admin('keys', { alias: 'poor', budget: { max_usd: 0.0001, period: 'daily' } })).secret;
});
after(async () => gw && gw.stop());

const messages = [{ role: 'user', content: '#mock {"text":"Hello via a virtual key"}\nHi.' }];

describe('a virtual key through the SDKs', () => {
  test('openai: chat and responses with the key as its apiKey (Bearer)', async () => {
    const openai = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
    const c = await openai.chat.completions.create({ model: 'm-openai', messages });
    assert.equal(c.choices[0].message.content, 'Hello via a virtual key');
    const r = await openai.responses.create({ model: 'm-anthropic', input: messages[0].content });
    assert.equal(r.output_text, 'Hello via a virtual key');
  });

  test('anthropic: messages with the key as apiKey (x-api-key) and as authToken (Bearer)', async () => {
    for (const auth of [{ apiKey: key }, { apiKey: null, authToken: key }]) {
      const anthropic = new Anthropic({ baseURL: gw.rootURL, maxRetries: 0, ...auth });
      const m = await anthropic.messages.create({ model: 'm-compat', max_tokens: 64, messages });
      assert.equal(m.content[0].text, 'Hello via a virtual key');
    }
  });

  test('a wrong key is the SDKs\' AuthenticationError', async () => {
    const wrong = 'sk-sy-not-a-key-0000000000000000000000000000000000';
    const openai = new OpenAI({ baseURL: gw.baseURL, apiKey: wrong, maxRetries: 0 });
    await assert.rejects(openai.chat.completions.create({ model: 'm-openai', messages }),
      (e) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key');
    const anthropic = new Anthropic({ baseURL: gw.rootURL, apiKey: wrong, maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'm-compat', max_tokens: 64, messages }),
      (e) => e instanceof Anthropic.AuthenticationError);
  });

  test('a model the key may not use is PermissionDeniedError, naming the model', async () => {
    const openai = new OpenAI({ baseURL: gw.baseURL, apiKey: narrow, maxRetries: 0 });
    await assert.rejects(openai.chat.completions.create({ model: 'm-openai', messages }),
      (e) => e instanceof OpenAI.PermissionDeniedError && /m-openai/.test(e.message));
    const anthropic = new Anthropic({ baseURL: gw.rootURL, apiKey: narrow, maxRetries: 0 });
    const m = await anthropic.messages.create({ model: 'm-anthropic', max_tokens: 64, messages });
    assert.equal(m.content[0].text, 'Hello via a virtual key');
  });

  test('a budget that cannot hold the request is RateLimitError with budget_exceeded', async () => {
    const openai = new OpenAI({ baseURL: gw.baseURL, apiKey: poor, maxRetries: 0 });
    await assert.rejects(
      openai.chat.completions.create({ model: 'gpt-test', max_tokens: 1000, messages }),
      (e) => e instanceof OpenAI.RateLimitError && e.code === 'budget_exceeded' && /resets at/.test(e.message));
    const anthropic = new Anthropic({ baseURL: gw.rootURL, apiKey: poor, maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'gpt-test', max_tokens: 1000, messages }),
      (e) => e instanceof Anthropic.RateLimitError && /Budget exceeded/.test(e.message));
  });
});
