// The display sender's last check before a command is published (ingest/displays.ts
// compileCommandTopicCheck): a topic is published only if it is the configured command
// topic with a UUID application id, a DevEUI and `down`; a `#`, a `+` or extra levels in
// an application id from outside (display config, uplinks) never reach the broker.
import t from 'tap';
import { compileCommandTopic, compileCommandTopicCheck } from '../../ingest/displays.js';

const TEMPLATE = 'pfx/application/{application_id}/device/{dev_eui}/command/{command}';
const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const check = compileCommandTopicCheck(TEMPLATE);
const render = compileCommandTopic(TEMPLATE);

t.test('what the renderer makes for a real display passes', async (t) => {
  t.equal(check(render({ applicationId: APP, devEui: '2020203705250102', command: 'down' })), null);
  t.equal(check(render({ applicationId: APP.toUpperCase(), devEui: '2020203705250102', command: 'down' })), null, 'a UUID in capitals is still a UUID');
});

t.test('anything else is refused, saying why', async (t) => {
  const cases: [string, RegExp][] = [
    [render({ applicationId: '#', devEui: '2020203705250102', command: 'down' }), /application id "#" is not a UUID/],
    [render({ applicationId: '+', devEui: '2020203705250102', command: 'down' }), /not a UUID/],
    [render({ applicationId: 'not-a-uuid', devEui: '2020203705250102', command: 'down' }), /not a UUID/],
    [render({ applicationId: `${APP}/device/x`, devEui: '2020203705250102', command: 'down' }), /levels/],
    [render({ applicationId: APP, devEui: '+', command: 'down' }), /DevEUI "\+"/],
    [render({ applicationId: APP, devEui: '2020203705250102', command: 'flush' }), /command "flush" is not down/],
    [`other/application/${APP}/device/2020203705250102/command/down`, /does not match/],
  ];
  for (const [topic, why] of cases) t.match(check(topic), why, topic);
});
