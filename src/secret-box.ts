/**
 * Owns encryption of secrets baygate must keep and later use as given (a tenant's
 * ChirpStack API key): the one home for it, so every stored secret is sealed the same way.
 *
 * AES-256-GCM (NIST SP 800-38D) with a fresh random 96-bit nonce per seal, the length
 * SP 800-38D §8.2 recommends; a random nonce stays safe far beyond the number of secrets a
 * deployment seals. The key is derived from the server secret with HKDF-SHA256 (RFC 5869),
 * with a label per purpose, so this key is never the JWT signing key itself and one purpose's
 * ciphertext is no use to another. Each seal is bound to a context (e.g. the tenant id) as
 * additional authenticated data: a sealed value copied to another tenant's row does not open.
 *
 * Stored form: `v1.` + base64url(nonce ‖ ciphertext ‖ 16-byte tag). The version names the
 * derivation, so a later change (another server secret, another label) can sit beside it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** HKDF salt: fixed and public (RFC 5869 §3.1 allows it); it separates baygate's keys from other uses of the secret. */
const SALT = 'baygate secret-box';

export interface SecretBox {
  /** Seals `plaintext`; `context` must be given again to open it. */
  seal(plaintext: string, context: string): string;
  /** Opens a sealed value; throws SecretBoxError when it was sealed under another key or context, or altered. */
  open(sealed: string, context: string): string;
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** `serverSecret`: the JWT_SECRET (config.jwtSecret); `purpose`: a fixed label, e.g. 'chirpstack-api-key'. */
export function secretBox(serverSecret: string, purpose: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', serverSecret, SALT, `${VERSION} ${purpose}`, KEY_BYTES));
  return {
    seal(plaintext, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, data] = sealed.split('.', 2);
      if (version !== VERSION || !data) throw new SecretBoxError(`unknown sealed-secret format "${version}"`);
      const raw = Buffer.from(data, 'base64url');
      if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SecretBoxError('sealed secret too short');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        // GCM's tag check failed: another server secret, another context, or altered bytes.
        throw new SecretBoxError('sealed secret does not open with this server secret');
      }
    },
  };
}
