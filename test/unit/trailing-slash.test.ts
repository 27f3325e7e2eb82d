// The trailing-slash rule (api/middleware/trailing-slash.ts), as a table.
import t from 'tap';
import { withoutTrailingSlashes } from '../../api/middleware/trailing-slash.js';

t.test('withoutTrailingSlashes', async (t) => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['//', '/'],
    ['/api/v6/spaces', '/api/v6/spaces'],
    ['/api/v6/spaces/', '/api/v6/spaces'],
    ['/api/v6/spaces///', '/api/v6/spaces'],
    ['//a//b//', '//a//b'],
    [`/${'/'.repeat(16_000)}x/`, `/${'/'.repeat(16_000)}x`],
  ];
  for (const [path, want] of cases) t.equal(withoutTrailingSlashes(path), want, JSON.stringify(path.slice(0, 20)));
});
