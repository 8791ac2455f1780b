// The Node `openai` SDK through the gateway: Responses (JSON, stream, the stream() helper,
// retrieve, delete), a Chat stream with usage, models, and the Responses WebSocket mode.
import { ResponsesWS } from 'openai/resources/responses/ws';
import OpenAI from 'openai';
import { assert, client, run } from './lib.mjs';

const openai = client();

await run({
  async 'responses.create JSON'() {
    const resp = await openai.responses.create({ model: 'gpt-5-nano', input: 'Hello from Node' });
    assert.equal(resp.status, 'completed');
    assert.equal(resp.output_text, 'Fake answer: Hello from Node');
    assert.ok(resp.usage.output_tokens > 0);
    assert.ok(resp._request_id, 'the SDK read x-request-id');
  },
  async 'responses.create stream'() {
    const stream = await openai.responses.create({
      model: 'gpt-4.1', input: 'Node raw stream', stream: true,
    });
    const types = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(text, 'Fake answer: Node raw stream');
  },
  async 'responses.stream() helper, retrieve, delete'() {
    const stream = openai.responses.stream({ model: 'gpt-5-mini', input: 'Node helper' });
    const deltas = [];
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    assert.equal(deltas.join(''), 'Fake answer: Node helper');
    assert.equal(final.output_text, 'Fake answer: Node helper');
    assert.equal(final.usage.output_tokens_details.reasoning_tokens, 4);
    const again = await openai.responses.retrieve(final.id);
    assert.equal(again.id, final.id);
    await openai.responses.delete(final.id);
    await assert.rejects(openai.responses.retrieve(final.id), OpenAI.NotFoundError);
  },
  async 'chat stream with usage'() {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Node chat' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, 'Fake answer: Node chat');
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.completion_tokens > 0);
  },
  async 'models list and retrieve'() {
    const ids = [];
    for await (const model of openai.models.list()) ids.push(model.id);
    assert.ok(ids.includes('gpt-5-nano'), `gpt-5-nano in ${ids}`);
    const model = await openai.models.retrieve('gpt-5-nano');
    assert.equal(model.id, 'gpt-5-nano');
    assert.equal(model.object, 'model');
    await assert.rejects(openai.models.retrieve('no-such-model'), OpenAI.NotFoundError);
  },
  async 'errors: class, code, param and request id'() {
    const error = await openai.responses
      .create({ model: 'no-such-model', input: 'x' })
      .then(() => assert.fail('an unknown model was answered'), (e) => e);
    assert.ok(error instanceof OpenAI.NotFoundError, `${error}`);
    assert.equal(error.status, 404);
    assert.equal(error.code, 'model_not_found');
    assert.equal(error.param, 'model');
    assert.ok(error.requestID, 'the gateway refusal has a request id');
  },
  async 'ResponsesWS: two responses, the second chained'() {
    const ws = new ResponsesWS(openai);
    const done = [];
    const finished = new Promise((resolve, reject) => {
      ws.on('error', reject);
      ws.on('response.completed', (event) => {
        done.push(event.response);
        if (done.length === 1) {
          ws.send({
            type: 'response.create', model: 'gpt-5-nano', input: 'second over the socket',
            previous_response_id: event.response.id,
          });
        } else resolve();
      });
    });
    ws.send({ type: 'response.create', model: 'gpt-5-nano', input: 'first over the socket' });
    await finished;
    ws.close({ code: 1000, reason: 'done' });
    const message = done[0].output.find((item) => item.type === 'message');
    assert.equal(message.content[0].text, 'Fake answer: first over the socket');
    assert.equal(done[1].previous_response_id, done[0].id);
  },
});
