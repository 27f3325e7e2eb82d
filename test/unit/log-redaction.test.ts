// The logger blanks secrets wherever a log call might put them: passwords and tokens in
// bodies, authorization headers, the JWT secret and connection strings in a config object,
// and the raw body a JSON parse error keeps.
import t from 'tap';
import { createLogger } from '../../src/log.js';

function capture(): { lines: string[]; stream: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

const SECRET = 'S3CR3T-VALUE';

const shapes: [string, Record<string, unknown>][] = [
  ['top-level password', { password: SECRET }],
  ['a body', { body: { email: 'a@b.c', password: SECRET, refresh_token: SECRET } }],
  ['a request body', { req: { body: { password: SECRET } } }],
  ['tokens', { access_token: SECRET, refresh_token: SECRET, token: SECRET }],
  ['a response with tokens', { res: { body: { access_token: SECRET } } }],
  ['request headers', { req: { headers: { authorization: `Bearer ${SECRET}`, cookie: SECRET } } }],
  ['headers', { headers: { authorization: `Bearer ${SECRET}` } }],
  ['a config', { config: { jwtSecret: SECRET, databaseUrl: `postgres://u:${SECRET}@h/db`, mqttUrl: `mqtt://u:${SECRET}@h` } }],
  ['a password hash', { user: { password_hash: SECRET, passwordHash: SECRET } }],
  ["a tenant's ChirpStack API key", { req: { body: { application_ids: [], api_key: SECRET } }, tenant: { apiKey: SECRET } }],
  ['a parse error', { err: Object.assign(new SyntaxError('Unexpected end of JSON input'), { body: `{"password":"${SECRET}"` }) }],
];

for (const [name, obj] of shapes) {
  t.test(name, async (t) => {
    const { lines, stream } = capture();
    createLogger('trace', 'test', stream).info(obj, 'message');
    t.equal(lines.length, 1, 'logged');
    t.notMatch(lines[0], SECRET, 'the secret is blanked');
    t.match(lines[0], '[redacted]');
  });
}

t.test('non-secret fields stay readable', async (t) => {
  const { lines, stream } = capture();
  createLogger('info', 'test', stream).info({ method: 'GET', path: '/api/v6/spaces', status: 200 }, 'request');
  t.match(JSON.parse(lines[0]!), { method: 'GET', path: '/api/v6/spaces', status: 200, msg: 'request' });
});
