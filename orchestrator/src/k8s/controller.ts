// The Kubernetes side of network policy: watches Pods (this node's), Namespaces,
// NetworkPolicies and MultiNetworkPolicies through the API server and tells memswitchd
// over its gRPC API what they say: pod labels and named ports, namespace labels, the
// policies themselves. memswitchd does the rest (selectors, compiling, the dataplane), so
// this stays a translation: Kubernetes objects in, PolicyService calls out. Started by
// `memswitch k8s-controller`, beside memswitchd on every node (the DaemonSet).
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  ListWatch,
  makeInformer,
  Watch,
  NetworkingV1Api,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Pod,
} from '@kubernetes/client-node';
import { toWire } from '../api/policy-handlers.js';
import { fromManifest, networkPolicySchema } from '../domain/policy-rules.js';
import { validate } from '../domain/routing-rules.js';
import type { Logger } from '../log.js';
import type { MemswitchClient } from '../sdk/index.js';

export interface ControllerOptions {
  /** A kubeconfig file; none: in-cluster (the service account), else ~/.kube/config. */
  kubeconfig?: string;
  /** Only this node's pods (their labels are all memswitchd needs); none: every pod. */
  nodeName?: string;
  client: MemswitchClient;
  log: Logger;
  /** After an informer fails (API server gone, a CRD missing), the wait before it lists and watches again. */
  retryMs?: number;
}

const MULTI = { group: 'k8s.cni.cncf.io', version: 'v1beta1', plural: 'multi-networkpolicies' };
const refOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class PolicyController {
  private readonly informers: Informer<KubernetesObject>[] = [];
  // What memswitchd was last told, so an update that changes nothing else (status, a
  // resourceVersion) makes no call.
  private readonly sent = new Map<string, string>();
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {}

  /** Resolves once every informer has listed (and memswitchd holds what they listed). */
  async start(): Promise<void> {
    const kc = new KubeConfig();
    if (this.opts.kubeconfig) kc.loadFromFile(this.opts.kubeconfig);
    else kc.loadFromDefault();
    const core = kc.makeApiClient(CoreV1Api);
    const networking = kc.makeApiClient(NetworkingV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const fieldSelector = this.opts.nodeName ? `spec.nodeName=${this.opts.nodeName}` : undefined;
    // Informers report a failed list as an error event, and start() resolves all the same:
    // what resolves `listed` is the first list that worked.
    const firstList = <T>(list: () => Promise<T>): { fn: () => Promise<T>; listed: Promise<void> } => {
      let done: () => void = () => {};
      const listed = new Promise<void>((resolve) => (done = resolve));
      return {
        listed,
        fn: async () => {
          const r = await list();
          done();
          return r;
        },
      };
    };
    const podList = firstList(() => core.listPodForAllNamespaces({ fieldSelector }));
    const nsList = firstList(() => core.listNamespace());
    const policyList = firstList(() => networking.listNetworkPolicyForAllNamespaces());
    const multiList = firstList(() => custom.listClusterCustomObject(MULTI) as Promise<KubernetesListObject<KubernetesObject>>);
    let multiListed = false;
    void multiList.listed.then(() => (multiListed = true));

    // makeInformer has no field selector: a ListWatch (what it makes) takes one, for the watch too.
    const pods: Informer<V1Pod> & ObjectCache<V1Pod> = new ListWatch<V1Pod>('/api/v1/pods', new Watch(kc), podList.fn, false, undefined, fieldSelector);
    const namespaces = makeInformer<V1Namespace>(kc, '/api/v1/namespaces', nsList.fn);
    const policies = makeInformer<V1NetworkPolicy>(kc, '/apis/networking.k8s.io/v1/networkpolicies', policyList.fn);
    const multi = makeInformer<KubernetesObject>(
      kc,
      `/apis/${MULTI.group}/${MULTI.version}/${MULTI.plural}`,
      multiList.fn,
    );

    this.watch(pods, 'pod', (p) => this.podChanged(p), (p) => this.podGone(p));
    this.watch(namespaces, 'namespace', (n) => this.namespaceChanged(n), (n) => this.namespaceChanged({ ...n, metadata: { ...n.metadata, labels: {} } }));
    this.watch(policies, 'NetworkPolicy', (p) => this.policyChanged('NetworkPolicy', p), (p) => this.policyGone(p));
    this.watch(multi, 'MultiNetworkPolicy', (p) => this.policyChanged('MultiNetworkPolicy', p), (p) => this.policyGone(p));
    // Namespaces first: a policy's namespace selectors need their labels. A failed list is
    // retried (watch()) until it works. MultiNetworkPolicies only where Multus installed
    // their CRD: not waited for.
    await namespaces.start();
    await nsList.listed;
    await pods.start();
    await podList.listed;
    await policies.start();
    await policyList.listed;
    await multi.start();
    await Promise.resolve(); // multiListed settles
    await this.prune([...policies.list(), ...multi.list()], multiListed);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private watch<T extends KubernetesObject>(informer: Informer<T>, what: string, changed: (o: T) => Promise<void>, gone: (o: T) => Promise<void>): void {
    this.informers.push(informer as unknown as Informer<KubernetesObject>);
    // One call at a time, in event order: a delete never overtakes the add before it.
    let queue = Promise.resolve();
    const enqueue = (fn: () => Promise<void>, o: T) => {
      queue = queue.then(fn).catch((err: unknown) => this.opts.log.error({ kind: what, object: refOf(o), err: (err as Error).message }, 'cannot program memswitchd'));
    };
    informer.on('add', (o) => enqueue(() => changed(o), o));
    informer.on('update', (o) => enqueue(() => changed(o), o));
    informer.on('delete', (o) => enqueue(() => gone(o), o));
    informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.opts.log.warn({ kind: what, err: (err as Error)?.message ?? String(err) }, 'watch failed; listing and watching again');
      setTimeout(() => {
        if (!this.stopped) informer.start().catch(() => {}); // an error again: another 'error' event
      }, this.opts.retryMs ?? 5000);
    });
  }

  private async once(key: string, value: unknown, call: () => Promise<unknown>): Promise<void> {
    const text = JSON.stringify(value);
    if (this.sent.get(key) === text) return;
    await call();
    this.sent.set(key, text);
  }

  private async podChanged(p: V1Pod): Promise<void> {
    const namespace = p.metadata?.namespace ?? '';
    const name = p.metadata?.name ?? '';
    const ports = (p.spec?.containers ?? []).flatMap((c) => c.ports ?? []).filter((x) => x.name).map((x) => ({ name: x.name!, protocol: x.protocol ?? 'TCP', port: x.containerPort }));
    const labels = p.metadata?.labels ?? {};
    await this.once(`pod:${namespace}/${name}`, { labels, ports }, () => this.opts.client.setPodLabels({ namespace, name, labels, ports }));
  }

  private async podGone(p: V1Pod): Promise<void> {
    const namespace = p.metadata?.namespace ?? '';
    const name = p.metadata?.name ?? '';
    this.sent.delete(`pod:${namespace}/${name}`);
    await this.opts.client.deletePodLabels({ namespace, name });
  }

  private async namespaceChanged(n: V1Namespace): Promise<void> {
    const namespace = n.metadata?.name ?? '';
    const labels = n.metadata?.labels ?? {};
    await this.once(`ns:${namespace}`, labels, () => this.opts.client.setNamespaceLabels({ namespace, labels }));
  }

  private async policyChanged(kind: 'NetworkPolicy' | 'MultiNetworkPolicy', o: KubernetesObject): Promise<void> {
    // A list's items carry no kind; the informer's path says what they are. The client
    // library names an ingress rule's `from` `_from` (a reserved word in its generator):
    // back to the API's own spelling.
    const wire = JSON.parse(JSON.stringify({ ...o, kind }).replaceAll('"_from":', '"from":')) as unknown;
    const policy = validate(networkPolicySchema, fromManifest(wire));
    await this.once(`policy:${refOf(o)}`, policy, () => this.opts.client.applyNetworkPolicy({ policy: toWire(policy) }));
  }

  private async policyGone(o: KubernetesObject): Promise<void> {
    this.sent.delete(`policy:${refOf(o)}`);
    await this.opts.client.deleteNetworkPolicy({ namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' }).catch((err: { code?: string }) => {
      if (err.code !== 'NOT_FOUND') throw err;
    });
  }

  /**
   * Policies memswitchd holds that the cluster no longer has (deleted while this was down)
   * go; MultiNetworkPolicies only when their list worked (no CRD, or no answer, is no
   * evidence that they are gone).
   */
  private async prune(cluster: KubernetesObject[], multiListed: boolean): Promise<void> {
    const keep = new Set(cluster.map(refOf));
    for (const { policy } of (await this.opts.client.listNetworkPolicies()).policies) {
      const ref = `${policy.namespace}/${policy.name}`;
      if (keep.has(ref) || (policy.networks.length > 0 && !multiListed)) continue;
      this.opts.log.info({ policy: ref }, 'deleting a network policy the cluster no longer has');
      await this.opts.client.deleteNetworkPolicy({ namespace: policy.namespace, name: policy.name });
    }
  }
}
