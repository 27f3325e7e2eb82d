// The README's configuration table and src/config.ts never drift: every variable the
// code reads is documented, every documented variable is read, every default in
// config/defaults.json belongs to a read variable and is the default the table shows.
import t from 'tap';
import { readFileSync } from 'node:fs';
import defaults from '../../config/defaults.json' with { type: 'json' };

const ROOT = new URL('../../', import.meta.url);
const configSource = readFileSync(new URL('src/config.ts', ROOT), 'utf8');
const readme = readFileSync(new URL('README.md', ROOT), 'utf8');

/** Names read from the environment object: helper(env, 'NAME' …), env.NAME, env['NAME']. */
function variablesRead(source: string): Set<string> {
  const names = new Set<string>();
  for (const m of source.matchAll(/\benv,\s*'([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\benv\[\s*'([A-Z][A-Z0-9_]*)'\s*\]/g)) names.add(m[1]!);
  return names;
}

/** Rows of the tables in the README's "## Configuration" section: name → default cell. */
function documented(markdown: string): Map<string, string> {
  const start = markdown.search(/^## Configuration\s*$/m);
  if (start < 0) return new Map();
  const rest = markdown.slice(start + 1);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const rows = new Map<string, string>();
  for (const m of section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|/gm)) rows.set(m[1]!, m[2]!.trim());
  return rows;
}

const read = variablesRead(configSource);
const table = documented(readme);

t.test('the parsers find something', async (t) => {
  t.ok(read.size >= 10, `src/config.ts reads ${read.size} variables`);
  t.ok(table.size >= 10, `the README documents ${table.size} variables`);
  t.ok(read.has('DATABASE_URL') && read.has('JWT_SECRET') && read.has('NODE_ENV'));
});

t.test('every variable src/config.ts reads is in the README table', async (t) => {
  for (const name of [...read].sort()) t.ok(table.has(name), `${name} is documented`);
});

t.test('every variable in the README table is read by src/config.ts', async (t) => {
  for (const name of [...table.keys()].sort()) t.ok(read.has(name), `${name} is read`);
});

t.test('config/defaults.json: only read variables, and the README shows the same default', async (t) => {
  for (const [name, value] of Object.entries(defaults)) {
    t.ok(read.has(name), `${name} in defaults.json is read by src/config.ts`);
    const cell = table.get(name);
    if (cell !== undefined) t.match(cell, `\`${String(value)}\``, `the README's default for ${name} is ${String(value)}`);
  }
});
