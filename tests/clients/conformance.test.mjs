// The official openai and @anthropic-ai/sdk SDKs drive every front door (Chat Completions,
// Messages, Responses) against a mock of every provider type, changing nothing but the base
// URL and the key. The mock reads its plan from a "#mock {...}" line in the user's text, which
// survives translation between protocols.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway } from './harness.mjs';

let gw;
let openai;
let anthropic;
before(async () => {
  gw = await startGateway({ allProviders: true });
  openai = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-client-key', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.rootURL, apiKey: 'sk-ant-client-key', maxRetries: 0 });
});
after(async () => gw && gw.stop());

// One model per provider type, all served by the same mock upstream.
const providers = ['compat', 'openai', 'azure', 'anthropic', 'gemini'];
const usage = { prompt_tokens: 40, completion_tokens: 7, cached_tokens: 10 };
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const plan = (p) => `#mock ${JSON.stringify(p)}\nPlease answer.`;

for (const provider of providers) {
  const model = `m-${provider}`;

  describe(`Chat Completions front door, ${provider} provider`, () => {
    test('plain text and usage', async () => {
      const c = await openai.chat.completions.create({
        model,
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: plan({ text: 'Hello from the mock', usage }) }],
      });
      assert.equal(c.choices[0].message.content, 'Hello from the mock');
      assert.equal(c.choices[0].finish_reason, 'stop');
      assert.equal(c.usage.prompt_tokens, 40);
      assert.equal(c.usage.completion_tokens, 7);
      assert.equal(c.usage.prompt_tokens_details?.cached_tokens ?? 0, 10);
    });

    test('streaming text, usage chunk last when asked', async () => {
      const stream = await openai.chat.completions.create({
        model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: plan({ text: 'one two three four', chunks: 4, usage }) }],
      });
      let text = '';
      let last;
      const ids = new Set();
      for await (const chunk of stream) {
        ids.add(chunk.id);
        text += chunk.choices[0]?.delta?.content ?? '';
        last = chunk;
      }
      assert.equal(text, 'one two three four');
      assert.equal(ids.size, 1, 'every chunk has the same id');
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage.prompt_tokens, 40);
      assert.equal(last.usage.completion_tokens, 7);
    });

    test('a streamed tool call assembled by the SDK, then the tool round trip', async () => {
      const messages = [{ role: 'user', content: plan({ tool_call: { name: 'get_weather', arguments: { city: 'Paris' } } }) }];
      const runner = openai.chat.completions.stream({ model, messages, tools: [{ type: 'function', function: weatherTool }] });
      const first = await runner.finalChatCompletion();
      const message = first.choices[0].message;
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      assert.equal(message.tool_calls.length, 1);
      assert.equal(message.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(message.tool_calls[0].function.arguments), { city: 'Paris' });

      const second = await openai.chat.completions.create({
        model,
        tools: [{ type: 'function', function: weatherTool }],
        messages: [...messages, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: 'sunny, 21 C' }],
      });
      assert.match(second.choices[0].message.content, /sunny, 21 C/);
    });

    for (const [status, cls] of [[400, OpenAI.BadRequestError], [401, OpenAI.AuthenticationError], [429, OpenAI.RateLimitError], [500, OpenAI.InternalServerError]]) {
      test(`upstream ${status} raises ${cls.name}`, async () => {
        await assert.rejects(
          openai.chat.completions.create({ model, messages: [{ role: 'user', content: plan({ fault: 'status', status }) }] }),
          (e) => e instanceof cls && e.status === status,
        );
      });
    }
  });

  describe(`Messages front door, ${provider} provider`, () => {
    test('plain text and usage in Anthropic terms', async () => {
      const m = await anthropic.messages.create({
        model,
        max_tokens: 256,
        system: 'Be brief.',
        messages: [{ role: 'user', content: plan({ text: 'Hello from the mock', usage }) }],
      });
      assert.equal(m.type, 'message');
      assert.equal(m.content[0].type, 'text');
      assert.equal(m.content[0].text, 'Hello from the mock');
      assert.equal(m.stop_reason, 'end_turn');
      // Anthropic's input_tokens leaves out cache reads; OpenAI's prompt_tokens includes them.
      assert.equal(m.usage.input_tokens, 30);
      assert.equal(m.usage.cache_read_input_tokens, 10);
      assert.equal(m.usage.output_tokens, 7);
    });

    test('streaming text through the SDK stream helper', async () => {
      const stream = anthropic.messages.stream({
        model,
        max_tokens: 256,
        messages: [{ role: 'user', content: plan({ text: 'one two three four', chunks: 4, usage }) }],
      });
      let text = '';
      stream.on('text', (t) => { text += t; });
      const final = await stream.finalMessage();
      assert.equal(text, 'one two three four');
      assert.equal(final.content[0].text, 'one two three four');
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, 7);
      assert.equal(final.usage.input_tokens, 30);
    });

    test('a streamed tool_use assembled by the SDK, then the tool round trip', async () => {
      const tools = [{ name: weatherTool.name, description: weatherTool.description, input_schema: weatherTool.parameters }];
      const messages = [{ role: 'user', content: plan({ tool_call: { name: 'get_weather', arguments: { city: 'Paris' } } }) }];
      const first = await anthropic.messages.stream({ model, max_tokens: 256, tools, messages }).finalMessage();
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.ok(use, 'a tool_use block');
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { city: 'Paris' });

      const second = await anthropic.messages.create({
        model,
        max_tokens: 256,
        tools,
        messages: [
          ...messages,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 21 C' }] },
        ],
      });
      assert.match(second.content.map((b) => b.text ?? '').join(''), /sunny, 21 C/);
    });

    test('count_tokens answers with a count', async () => {
      const count = await anthropic.messages.countTokens({ model, messages: [{ role: 'user', content: 'How many tokens is this sentence?' }] });
      assert.ok(Number.isInteger(count.input_tokens) && count.input_tokens > 0);
    });

    for (const [status, cls] of [[400, Anthropic.BadRequestError], [401, Anthropic.AuthenticationError], [429, Anthropic.RateLimitError], [500, Anthropic.InternalServerError]]) {
      test(`upstream ${status} raises ${cls.name}`, async () => {
        await assert.rejects(
          anthropic.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: plan({ fault: 'status', status }) }] }),
          (e) => e instanceof cls && e.status === status && e.error?.type === 'error',
        );
      });
    }
  });

  describe(`Responses front door, ${provider} provider`, () => {
    test('plain text and usage', async () => {
      const r = await openai.responses.create({ model, instructions: 'Be brief.', input: plan({ text: 'Hello from the mock', usage }) });
      assert.equal(r.status, 'completed');
      assert.equal(r.output_text, 'Hello from the mock');
      assert.equal(r.usage.input_tokens, 40);
      assert.equal(r.usage.output_tokens, 7);
      assert.equal(r.usage.total_tokens, 47);
    });

    test('streaming: deltas, then response.completed with the id and usage', async () => {
      const stream = await openai.responses.create({ model, stream: true, input: plan({ text: 'one two three four', chunks: 4, usage }) });
      let text = '';
      let completed;
      let created;
      for await (const event of stream) {
        if (event.type === 'response.created') created = event.response.id;
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') completed = event.response;
      }
      assert.equal(text, 'one two three four');
      assert.ok(completed, 'response.completed arrived');
      assert.equal(completed.id, created);
      assert.equal(completed.usage.input_tokens, 40);
      assert.equal(completed.usage.output_tokens, 7);
    });

    test('a function call, then the tool round trip', async () => {
      const tools = [{ type: 'function', ...weatherTool }];
      const input = [{ role: 'user', content: plan({ tool_call: { name: 'get_weather', arguments: { city: 'Paris' } } }) }];
      const first = await openai.responses.create({ model, tools, input });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call, 'a function_call item');
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
      const second = await openai.responses.create({
        model,
        tools,
        input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21 C' }],
      });
      assert.match(second.output_text, /sunny, 21 C/);
    });

    test('a streamed function call arrives whole in output_item.done', async () => {
      const tools = [{ type: 'function', ...weatherTool }];
      const stream = await openai.responses.create({
        model, tools, stream: true,
        input: [{ role: 'user', content: plan({ tool_call: { name: 'get_weather', arguments: { city: 'Paris' } } }) }],
      });
      let done;
      let args = '';
      let completed;
      for await (const event of stream) {
        if (event.type === 'response.function_call_arguments.delta') args += event.delta;
        if (event.type === 'response.output_item.done' && event.item.type === 'function_call') done = event.item;
        if (event.type === 'response.completed') completed = event.response;
      }
      assert.ok(done, 'output_item.done with the function_call');
      assert.equal(done.name, 'get_weather');
      assert.ok(done.call_id);
      assert.deepEqual(JSON.parse(done.arguments), { city: 'Paris' });
      assert.deepEqual(JSON.parse(args), { city: 'Paris' });
      assert.ok(completed.output.some((o) => o.type === 'function_call' && o.call_id === done.call_id));
    });

    for (const [status, cls] of [[400, OpenAI.BadRequestError], [401, OpenAI.AuthenticationError], [429, OpenAI.RateLimitError], [500, OpenAI.InternalServerError]]) {
      test(`upstream ${status} raises ${cls.name}`, async () => {
        await assert.rejects(
          openai.responses.create({ model, input: plan({ fault: 'status', status }) }),
          (e) => e instanceof cls && e.status === status,
        );
      });
    }
  });
}

// The first target of m-failover refuses connections (nothing listens on port 1): every front
// door still gets its whole answer, from the second target, of another provider family.
describe('a model whose first target fails before the first byte', () => {
  const expectFailover = (response) => {
    assert.equal(response.headers.get('x-switchyard-model'), 'm-failover');
    assert.equal(response.headers.get('x-switchyard-provider'), 'anthropic');
    assert.equal(response.headers.get('x-switchyard-attempts'), '2');
  };
  const text = 'Served by the second target';

  test('Chat Completions, whole and streamed', async () => {
    const messages = [{ role: 'user', content: plan({ text }) }];
    const { data: c, response } = await openai.chat.completions.create({ model: 'm-failover', messages }).withResponse();
    expectFailover(response);
    assert.equal(c.choices[0].message.content, text);
    const { data: stream, response: streamed } = await openai.chat.completions
      .create({ model: 'm-failover', stream: true, messages: [{ role: 'user', content: plan({ text, chunks: 3 }) }] })
      .withResponse();
    expectFailover(streamed);
    let got = '';
    let finish;
    for await (const chunk of stream) {
      got += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(got, text);
    assert.equal(finish, 'stop');
  });

  test('Messages, whole and streamed', async () => {
    const messages = [{ role: 'user', content: plan({ text }) }];
    const { data: m, response } = await anthropic.messages.create({ model: 'm-failover', max_tokens: 64, messages }).withResponse();
    expectFailover(response);
    assert.equal(m.content[0].text, text);
    const { data: stream, response: streamed } = await anthropic.messages
      .create({ model: 'm-failover', max_tokens: 64, stream: true, messages: [{ role: 'user', content: plan({ text, chunks: 3 }) }] })
      .withResponse();
    expectFailover(streamed);
    let got = '';
    let stopped = false;
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') got += event.delta.text;
      if (event.type === 'message_stop') stopped = true;
    }
    assert.equal(got, text);
    assert.ok(stopped, 'message_stop arrived');
  });

  test('Responses, whole and streamed', async () => {
    const { data: r, response } = await openai.responses.create({ model: 'm-failover', input: plan({ text }) }).withResponse();
    expectFailover(response);
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, text);
    const { data: stream, response: streamed } = await openai.responses
      .create({ model: 'm-failover', stream: true, input: plan({ text, chunks: 3 }) })
      .withResponse();
    expectFailover(streamed);
    let got = '';
    let completed;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') got += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    assert.equal(got, text);
    assert.equal(completed?.status, 'completed');
  });
});
