// MOCK: a stand-in for the Kubernetes API server, since none can run here. It serves the
// four collections the policy controller watches, in the API's own wire shapes: a list
// (with a resourceVersion), then a watch stream of newline-delimited ADDED / MODIFIED /
// DELETED events, as recorded from a real API server (test/fixtures/k8s/). The test
// drives the events; everything below the controller (memswitchd, the dataplane, the
// pods' traffic) is real.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

export const COLLECTIONS = {
  pods: '/api/v1/pods',
  namespaces: '/api/v1/namespaces',
  networkpolicies: '/apis/networking.k8s.io/v1/networkpolicies',
  multinetworkpolicies: '/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies',
} as const;
export type Collection = keyof typeof COLLECTIONS;
const LIST_KINDS: Record<Collection, { apiVersion: string; kind: string }> = {
  pods: { apiVersion: 'v1', kind: 'PodList' },
  namespaces: { apiVersion: 'v1', kind: 'NamespaceList' },
  networkpolicies: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicyList' },
  multinetworkpolicies: { apiVersion: 'k8s.cni.cncf.io/v1beta1', kind: 'MultiNetworkPolicyList' },
};

interface KObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

const onNode = (o: KObject, node: string | undefined): boolean => node === undefined || (o.spec as { nodeName?: string } | undefined)?.nodeName === node;

export class FakeKubeApiServer {
  private server: Server | undefined;
  private rv = 100;
  private readonly objects = new Map<Collection, Map<string, KObject>>(Object.keys(COLLECTIONS).map((c) => [c as Collection, new Map()]));
  // Every event, so that a watch from a resourceVersion gets what came after it (as the API
  // server's watch cache gives it).
  private readonly history: { c: Collection; rv: number; line: string; object: KObject }[] = [];
  private readonly watchers = new Map<Collection, Set<{ res: ServerResponse; node?: string }>>(Object.keys(COLLECTIONS).map((c) => [c as Collection, new Set()]));
  /** Requests seen, "GET /api/v1/pods?..." (what the controller asked for). */
  readonly requests: string[] = [];
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const set of this.watchers.values()) for (const w of set) w.res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A kubeconfig naming this server (plain HTTP, no credentials). */
  writeKubeconfig(file: string): void {
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters: [{ name: fake, cluster: { server: "http://127.0.0.1:${this.port}", insecure-skip-tls-verify: true } }]
users: [{ name: fake, user: {} }]
contexts: [{ name: fake, context: { cluster: fake, user: fake } }]
current-context: fake
`,
    );
  }

  /** Creates or replaces an object; watchers get ADDED or MODIFIED. */
  put(c: Collection, obj: KObject): void {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const type = this.objects.get(c)!.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.get(c)!.set(key, stored);
    this.emit(c, type, stored);
  }

  remove(c: Collection, namespace: string | undefined, name: string): void {
    const key = `${namespace ?? ''}/${name}`;
    const obj = this.objects.get(c)!.get(key);
    if (!obj) return;
    this.objects.get(c)!.delete(key);
    this.emit(c, 'DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } });
  }

  /** Ends every open watch (the API server restarting): clients list and watch again. */
  dropWatches(): void {
    for (const set of this.watchers.values()) {
      for (const w of set) w.res.end();
      set.clear();
    }
  }

  private emit(c: Collection, type: string, object: KObject): void {
    this.history.push({ c, rv: Number(object.metadata.resourceVersion), line: `${JSON.stringify({ type, object })}\n`, object });
    for (const w of this.watchers.get(c)!) if (onNode(object, w.node)) w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    const c = (Object.keys(COLLECTIONS) as Collection[]).find((k) => COLLECTIONS[k] === url.pathname);
    if (req.method !== 'GET' || !c) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    // fieldSelector spec.nodeName=N: a pod's spec.nodeName.
    const node = /^spec\.nodeName=(.*)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders(); // the client's watch() waits for them before it returns
      const w = { res, node };
      const from = Number(url.searchParams.get('resourceVersion') || this.rv);
      for (const e of this.history) if (e.c === c && e.rv > from && onNode(e.object, node)) res.write(e.line);
      const set = this.watchers.get(c)!;
      set.add(w);
      res.on('close', () => set.delete(w));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...LIST_KINDS[c], metadata: { resourceVersion: String(this.rv) }, items: [...this.objects.get(c)!.values()].filter((o) => onNode(o, node)) }));
  }
}
