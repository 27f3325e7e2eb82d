/**
 * Display policy routes: the colour and blink a tenant's display signs show for each display
 * state (src/domain/display-policy.ts). Any member reads it; admins change it. Ingest's
 * display_downlinks job re-plans every display within a tick, so a change reaches the signs
 * without further action.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { COLOUR_PATTERN, DEFAULT_DISPLAY_RULES, DISPLAY_STATES, effectiveRules, type DisplayRuleOverrides } from '../../src/domain/display-policy.js';
import { DISPLAY_ENCODING_NAMES } from '../../src/domain/display-encodings.js';
import { getDisplayPolicy, putDisplayPolicy, type DisplayPolicyRow } from '../../src/storage/display-policies.js';
import type { RouteDef } from './route.js';

const lookSchema = {
  type: 'object',
  properties: { colour: { type: 'string', pattern: COLOUR_PATTERN, description: '#rrggbb' }, blink: { type: 'boolean' } },
} as const;

const rulesOf = (look: object) => ({
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(DISPLAY_STATES.map((s) => [s, look])),
});

const putBody = {
  type: 'object',
  required: ['rules'],
  properties: {
    rules: { ...rulesOf({ ...lookSchema, additionalProperties: false }), description: 'Overrides of the defaults per display state; states and fields left out keep the default' },
  },
} as const;

const policySchema = {
  type: 'object',
  properties: {
    priority: { type: 'array', items: { enum: DISPLAY_STATES }, description: 'Display states, highest priority first' },
    rules: { ...rulesOf({ ...lookSchema, required: ['colour', 'blink'] }), description: 'What each state shows, overrides applied' },
    overrides: rulesOf(lookSchema),
    defaults: rulesOf({ ...lookSchema, required: ['colour', 'blink'] }),
    encodings: { type: 'array', items: { type: 'string' }, description: 'Display encodings a device may name in config.display_encoding' },
    updated_at: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

function policyJson(p: DisplayPolicyRow) {
  return {
    priority: [...DISPLAY_STATES],
    rules: effectiveRules(p.rules),
    overrides: p.rules,
    defaults: DEFAULT_DISPLAY_RULES,
    encodings: DISPLAY_ENCODING_NAMES,
    updated_at: p.updated_at?.toISOString() ?? null,
  };
}

export function displayPolicyRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/v6/display-policy', summary: "The tenant's display sign policy: what each display state shows", tag: 'displays',
      auth: 'viewer', response: policySchema,
      handler: async (_ctx, { principal }) => policyJson(await withTx(deps.pool, principal, (c) => getDisplayPolicy(c))),
    },
    {
      method: 'put', path: '/api/v6/display-policy', summary: "Replace the tenant's overrides of the default sign colours and blink", tag: 'displays',
      auth: 'admin', body: putBody, response: policySchema,
      handler: async (_ctx, { body, principal }) => {
        const rules = (body as { rules: DisplayRuleOverrides }).rules;
        // Stored lowercase, as the defaults and display_downlinks.colour are.
        const normalised = Object.fromEntries(
          Object.entries(rules).map(([state, look]) => [state, look.colour === undefined ? look : { ...look, colour: look.colour.toLowerCase() }]),
        ) as DisplayRuleOverrides;
        return policyJson(await withTx(deps.pool, principal, (c) => putDisplayPolicy(c, principal.tenantId, normalised, principal.userId)));
      },
    },
  ];
}
