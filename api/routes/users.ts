/** User routes: the members of the caller's tenant, and adding new ones. */
import { randomUUID } from 'node:crypto';
import { hashPassword } from '../../src/auth/passwords.js';
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ForbiddenError } from '../../src/errors.js';
import { ROLES, type Role } from '../../src/auth/roles.js';
import { listOf, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import { findLoginPrincipal, insertMembership, insertUser, listMembers, userJson } from '../../src/storage/users.js';
import type { RouteDef } from './route.js';

export interface UserDeps {
  pool: Pool;
  bcryptRounds: number;
}

// Same limits as registration (api/routes/auth.ts), so any account can log in the same way.
const createBody = {
  type: 'object',
  required: ['email', 'password', 'username', 'role'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 320 },
    password: { type: 'string', minLength: 8, maxLength: 72, description: 'At most 72 bytes in UTF-8, all of which count (src/auth/passwords.ts)' },
    username: { type: 'string', minLength: 1, maxLength: 100 },
    role: { type: 'string', enum: ROLES },
  },
} as const;

export const userSchema = {
  type: 'object',
  properties: {
    id: uuid,
    email: { type: 'string' },
    username: { type: 'string' },
    tenant_id: uuid,
    tenant_name: { type: 'string' },
    tenant_slug: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    created_at: timestamp,
  },
} as const;

export function userRoutes(deps: UserDeps): RouteDef[] {
  return [
    {
      method: 'post', path: '/api/v6/users', summary: "Add a user to the caller's tenant", tag: 'users', auth: 'admin',
      body: createBody, status: 201, response: userSchema,
      handler: async (_ctx, { body, principal }) => {
        const b = body as { email: string; password: string; username: string; role: Role };
        // Ownership can only be handed out by an owner; admins manage everyone below it.
        if (b.role === 'owner' && principal.role !== 'owner') throw new ForbiddenError('Only an owner can add an owner');
        const passwordHash = await hashPassword(b.password, deps.bcryptRounds);
        const userId = randomUUID();
        const tenantId = principal.tenantId;
        return withTx(deps.pool, { tenantId, userId: principal.userId }, async (c) => {
          await insertUser(c, { id: userId, email: b.email, username: b.username, passwordHash });
          await insertMembership(c, { tenantId, userId, role: b.role });
          return userJson((await findLoginPrincipal(c, userId, { id: tenantId }))!);
        });
      },
    },
    {
      method: 'get', path: '/api/v6/users', summary: "List the members of the caller's tenant", tag: 'users', auth: 'admin',
      query: { type: 'object', properties: pagination }, response: listOf(userSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page;
        const { limit, offset } = pageWindow(q);
        const { items, total } = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) =>
          listMembers(c, principal.tenantId, limit, offset),
        );
        return { items: items.map(userJson), total, page: q.page, page_size: q.page_size };
      },
    },
  ];
}
