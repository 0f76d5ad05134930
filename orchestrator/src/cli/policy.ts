// The network policy commands over PolicyService: apply policy (Kubernetes NetworkPolicy
// and MultiNetworkPolicy manifests, as kubectl takes them), show policy, delete policy,
// and label pod / label namespace (what a controller watching Pods and Namespaces does).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { toWire } from '../api/policy-handlers.js';
import type { IsolatedInterfaceView } from '../domain/policies.js';
import { fromManifest, networkPolicySchema } from '../domain/policy-rules.js';
import { validate } from '../domain/routing-rules.js';
import { createLogger } from '../log.js';
import { table, type Cli } from './common.js';

/** "k=v" arguments as labels. */
function labels(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((p) => {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new Error(`a label is KEY=VALUE, not "${p}"`);
      return [p.slice(0, eq), p.slice(eq + 1)];
    }),
  );
}

/** "namespace/name" (or a name in "default"). */
function ref(s: string): { namespace: string; name: string } {
  const [namespace, name] = s.includes('/') ? s.split('/', 2) : ['default', s];
  return { namespace: namespace!, name: name! };
}

function statusText(interfaces: IsolatedInterfaceView[]): string {
  const lines: string[] = [];
  for (const i of interfaces) {
    lines.push(`${i.interface} (pod ${i.pod}, network ${i.network})`);
    for (const d of ['ingress', 'egress'] as const) {
      const s = i[d];
      if (!s) {
        lines.push(`  ${d}: not isolated`);
        continue;
      }
      lines.push(`  ${d}: isolated, ${s.rules.length} rules, ${s.denied} new flows denied`);
      if (s.rules.length) lines.push(...table(['HITS', 'POLICY', 'RULE'], s.rules.map((r) => [r.hits, r.policy, r.rule])).trimEnd().split('\n').map((l) => `    ${l}`));
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : 'no pod interface is isolated\n';
}

export function addPolicyCommands(cmds: { show: Command; del: Command; program: Command }, { run, emit, api }: Cli): void {
  const { show, del, program } = cmds;
  program
    .command('apply')
    .description('create or replace objects from a file')
    .command('policy')
    .description('NetworkPolicy and MultiNetworkPolicy manifests (YAML or JSON, several documents)')
    .requiredOption('-f, --file <file>')
    .action(
      run(async (g, o: { file: string }) => {
        const docs = parseAllDocuments(readFileSync(o.file, 'utf8')).map((d) => d.toJS() as unknown).filter((d) => d !== null);
        // All validated before any is applied.
        const policies = docs.map((d, i) => {
          try {
            return validate(networkPolicySchema, fromManifest(d));
          } catch (err) {
            throw new Error(`${o.file}: document ${i + 1}: ${(err as Error).message}`);
          }
        });
        const results: Awaited<ReturnType<ReturnType<Cli['api']>['applyNetworkPolicy']>>[] = [];
        for (const p of policies) results.push(await api(g).applyNetworkPolicy({ policy: toWire(p) }));
        emit(g, results, () => results.map((r) => `network policy ${r.policy.policy.namespace}/${r.policy.policy.name} ${r.changed ? 'applied' : 'unchanged'}, selects ${r.policy.interfaces.length} interfaces\n`).join(''));
      }),
    );
  show
    .command('policy')
    .description('network policies and what they select, then every isolated pod interface with its rules and their hits')
    .option('--namespace <ns>')
    .action(
      run(async (g, o: { namespace?: string }) => {
        const { policies } = await api(g).listNetworkPolicies({ namespace: o.namespace ?? '' });
        const { interfaces } = await api(g).getPolicyStatus();
        emit(g, { policies, interfaces }, () => {
          const rows = policies.map((p) => [`${p.policy.namespace}/${p.policy.name}`, p.policy.networks.join(',') || '(primary)', p.interfaces.length, p.ingressAllowed, p.egressAllowed]);
          return `${table(['POLICY', 'NETWORKS', 'INTERFACES', 'INGRESS ALLOWED', 'EGRESS ALLOWED'], rows)}\n${statusText(interfaces)}`;
        });
      }),
    );
  del
    .command('policy')
    .argument('<namespace/name>')
    .action(
      run(async (g, name: string) => {
        await api(g).deleteNetworkPolicy(ref(name));
        emit(g, { deleted: name }, () => `network policy ${name} deleted\n`);
      }),
    );
  program
    .command('k8s-controller')
    .description('watch Pods, Namespaces, NetworkPolicies and MultiNetworkPolicies and program memswitchd (runs until SIGTERM)')
    .option('--kubeconfig <file>', 'default: in-cluster, else ~/.kube/config')
    .option('--node <name>', "only this node's pods (default: $NODE_NAME)", process.env.NODE_NAME)
    .option('--log-level <level>', 'pino level', 'info')
    .action(
      run(async (g, o: { kubeconfig?: string; node?: string; logLevel: string }) => {
        // Loaded here only: the Kubernetes client is heavy, and every other command starts without it.
        const { PolicyController } = await import('../k8s/controller.js');
        const log = createLogger(o.logLevel).child({ component: 'k8s-controller' });
        const controller = new PolicyController({ kubeconfig: o.kubeconfig, nodeName: o.node, client: api(g), log });
        await controller.start();
        log.info({ node: o.node ?? '(all)' }, 'k8s-controller synced');
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        await controller.stop();
      }),
    );
  const label = program.command('label').description("set the labels network policies select by (a controller's job in a cluster)");
  label
    .command('pod')
    .argument('<namespace/name>')
    .argument('[labels...]', 'KEY=VALUE')
    .option('--port <name:protocol:number...>', 'a named container port, e.g. http:TCP:8080')
    .action(
      run(async (g, name: string, pairs: string[], o: { port?: string[] }) => {
        const ports = (o.port ?? []).map((s) => {
          const [n, protocol, port] = s.split(':');
          return { name: n ?? '', protocol: protocol ?? 'TCP', port: Number(port) };
        });
        const r = await api(g).setPodLabels({ ...ref(name), labels: labels(pairs), ports });
        emit(g, r, () => `pod ${name} labelled (${r.interfaces.length} interfaces)\n`);
      }),
    );
  label
    .command('namespace')
    .argument('<namespace>')
    .argument('[labels...]', 'KEY=VALUE')
    .action(
      run(async (g, namespace: string, pairs: string[]) => {
        await api(g).setNamespaceLabels({ namespace, labels: labels(pairs) });
        emit(g, { namespace }, () => `namespace ${namespace} labelled\n`);
      }),
    );
}
