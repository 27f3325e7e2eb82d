// Which events may speak for a device, by the ChirpStack application they came through (issue 17).
import t from 'tap';
import { APPLICATION_ID, checkApplication } from '../../src/domain/application-binding.js';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const none = new Set<string>();

t.test('checkApplication', async (t) => {
  const cases: [name: string, binding: string | null, mapped: Set<string>, event: string | null, verdict: object][] = [
    ['unbound, unmapped: accepted and bound (trust on first use)', null, none, A, { accept: true, bind: A }],
    ['unbound, unmapped, no application named: accepted, nothing to bind', null, none, null, { accept: true, bind: null }],
    ['bound, same application', A, none, A, { accept: true, bind: null }],
    ['bound, another application: refused', A, none, B, { accept: false, refusal: 'bound_elsewhere' }],
    ['bound, no application named: refused', A, none, null, { accept: false, refusal: 'bound_elsewhere' }],
    ['mapped tenant, its application, unbound: bound', null, new Set([A]), A, { accept: true, bind: A }],
    ['mapped tenant, another application: refused even unbound', null, new Set([A]), B, { accept: false, refusal: 'application_not_mapped' }],
    ['mapped tenant, no application named: refused', null, new Set([A]), null, { accept: false, refusal: 'application_not_mapped' }],
    ['mapped tenant, bound to one mapped application, event from another mapped one: refused', A, new Set([A, B]), B, { accept: false, refusal: 'bound_elsewhere' }],
    ['mapped tenant, bound, its application', B, new Set([A, B]), B, { accept: true, bind: null }],
  ];
  for (const [name, binding, mapped, event, verdict] of cases) t.same(checkApplication(binding, mapped, event), verdict, name);
});

t.test('APPLICATION_ID accepts ChirpStack ids and nothing that could widen a topic', async (t) => {
  t.ok(APPLICATION_ID.test('17c82e96-be03-4f38-aef3-f83d48582d97'));
  for (const bad of ['#', '+', 'a/b', '17C82E96-BE03-4F38-AEF3-F83D48582D97', '17c82e96-be03-4f38-aef3-f83d48582d97/#', '']) t.notOk(APPLICATION_ID.test(bad), bad);
});
