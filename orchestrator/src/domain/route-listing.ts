// ListRoutes: the routes of every router (or of one), static, connected and local, in
// (router, prefix) order a page at a time, of both families or of one. Routes held in
// memory (derived ones and the file's) are merged with pages read from the store; the page
// token is the last (router, prefix) shown, so a page never repeats or skips a route that
// stayed.
import type { RoutingStore } from '../store/routing-store.js';
import { InvalidConfigError } from './errors.js';
import { familyOf, type Family } from './ip.js';
import type { RouteView } from './routing-rules.js';

export interface RouteQuery {
  router?: string;
  family?: Family;
  pageSize?: number;
  pageToken?: string;
}

const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;

/** The store key's order: byte order, which for ASCII prefixes is JavaScript's. */
export const byPrefix = (a: { prefix: string }, b: { prefix: string }): number => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);

// The token: the filters it belongs to and the last (router, prefix) shown.
const encodeToken = (q: RouteQuery, last: RouteView): string => Buffer.from(JSON.stringify([q.router ?? '', q.family ?? 0, last.router, last.prefix])).toString('base64url');

function decodeToken(token: string, q: RouteQuery): { router: string; prefix: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString());
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || typeof parsed[1] !== 'number' || ![parsed[0], parsed[2], parsed[3]].every((p) => typeof p === 'string'))
    throw new InvalidConfigError('page_token: is not a next_page_token of ListRoutes', 'page_token');
  if (parsed[0] !== (q.router ?? '')) throw new InvalidConfigError('page_token: belongs to a listing with another router filter', 'page_token');
  if (parsed[1] !== (q.family ?? 0)) throw new InvalidConfigError('page_token: belongs to a listing with another family filter', 'page_token');
  return { router: parsed[2] as string, prefix: parsed[3] as string };
}

/**
 * One page of `routers` (sorted; q.router, when given, is the only one), each router's
 * routes being `memory(router)` (sorted byPrefix) and the store's.
 */
export function listRoutes(q: RouteQuery, routers: string[], memory: (router: string) => RouteView[], store: RoutingStore): { routes: RouteView[]; nextPageToken: string } {
  const size = Math.min(q.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const after = q.pageToken ? decodeToken(q.pageToken, q) : undefined;
  const out: RouteView[] = [];
  // One more than a page, to know whether another page follows.
  for (const router of routers) {
    const want = size + 1 - out.length;
    if (want <= 0) break;
    if (after && router < after.router) continue;
    const from = after && router === after.router ? after.prefix : '';
    const mine = memory(router).filter((r) => r.prefix > from && (q.family === undefined || familyOf(r.prefix) === q.family));
    const stored = store.routesPage(router, from, want, q.family);
    let m = 0;
    let s = 0;
    while (out.length < size + 1 && (m < mine.length || s < stored.length)) {
      if (s >= stored.length || (m < mine.length && mine[m]!.prefix < stored[s]!.prefix)) out.push(mine[m++]!);
      else out.push({ router, ...stored[s++]!, origin: 'static', source: 'api' });
    }
  }
  const routes = out.slice(0, size);
  return { routes, nextPageToken: out.length > size ? encodeToken(q, routes.at(-1)!) : '' };
}
