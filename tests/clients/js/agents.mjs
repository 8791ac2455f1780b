// @openai/agents through the gateway: a function tool and a streamed run over HTTP, then the
// same tool run over the Responses WebSocket transport. The fake scripts the model's tool call
// per model (tests/clients/test_js.py queues the faults): gpt-4.1 over HTTP, gpt-5-mini over
// the socket.
import {
  Agent, OpenAIProvider, Runner, setDefaultOpenAIClient, setTracingDisabled, tool,
} from '@openai/agents';
import { z } from 'zod';
import { assert, baseURL, apiKey, client, run } from './lib.mjs';

setTracingDisabled(true);
setDefaultOpenAIClient(client());

const calls = [];
const weather = tool({
  name: 'city_weather',
  description: 'The weather in a city.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    calls.push(city);
    return `sunny in ${city}`;
  },
});

function agent(model) {
  return new Agent({ name: 'weather', instructions: 'Use tools.', tools: [weather], model });
}

await run({
  async 'HTTP: a function tool'() {
    const result = await new Runner().run(agent('gpt-4.1'), 'Weather in Paris?');
    assert.deepEqual(calls.splice(0), ['Paris']);
    assert.equal(result.finalOutput, 'It is sunny in Paris.');
  },
  async 'HTTP: a streamed run'() {
    const streamed = await new Runner().run(agent('gpt-5-nano'), 'Stream it', { stream: true });
    let text = '';
    for await (const event of streamed.toTextStream()) text += event;
    await streamed.completed;
    assert.equal(text, 'Fake answer: Stream it');
    assert.equal(streamed.finalOutput, text);
  },
  async 'WebSocket: a function tool'() {
    const provider = new OpenAIProvider({ apiKey, baseURL, useResponsesWebSocket: true });
    try {
      const runner = new Runner({ modelProvider: provider });
      const result = await runner.run(agent('gpt-5-mini'), 'Weather in Oslo?');
      assert.deepEqual(calls.splice(0), ['Oslo']);
      assert.equal(result.finalOutput, 'It is sunny in Oslo.');
    } finally {
      await provider.close();
    }
  },
});
