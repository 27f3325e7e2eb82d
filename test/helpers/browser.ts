/**
 * What the console's browser tests share: Debian's chromium (no browser download) and the
 * flags it needs on this machine, where outside connections are refused and a background
 * request would only stall it (see the machine notes in the README's test section).
 */
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Screenshots of each view (git-ignored). */
export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
/** Longest a UI wait may take: ingest batches in milliseconds, the SSE hop is immediate. */
export const UI_TIMEOUT_MS = 15_000;
/** nwave-nps405 fPort 1: bit 0 = occupied. */
export const OCCUPIED = Buffer.from([0x01]);
export const FREE = Buffer.from([0x00]);
