// The daemon's config file: a strict schema (unknown keys are errors) with defaults
// written here, so a bad file fails with `path: message` before anything starts.
import { isIP } from 'node:net';
import { z } from 'zod';

export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 characters: letters, digits, "_", "." or "-"');

export const macAddress = z
  .string()
  .regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, 'must be a MAC address like 02:00:00:00:00:10')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, 'must be a unicast MAC address')
  .transform((m) => m.toLowerCase());

// sun_path holds 108 bytes; a path needs its NUL, an abstract name its leading NUL.
const socket = z
  .string()
  .min(1)
  .max(107, 'must be at most 107 characters (the unix socket path limit)')
  .refine((s) => s.startsWith('/') || (s.startsWith('@') && s.length > 1), 'must be an absolute path or "@name" for an abstract socket');

export const memifInterface = z
  .object({
    name,
    kind: z.literal('memif'),
    network: name,
    socket: socket.default('/run/memswitch/memif.sock'),
    id: z.number().int().min(0).max(0xffffffff).default(0),
    secret: z.string().max(24, 'must be at most 24 bytes (the memif secret field)').optional(),
    // Listen inside this network namespace: an abstract socket there is reachable from the
    // pod without a hostPath mount.
    netns: z.string().refine((s) => s.startsWith('/'), 'must be a path like /var/run/netns/NAME or /proc/PID/ns/net').optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    mac: macAddress.optional(),
  })
  .strict();
export type MemifInterface = z.infer<typeof memifInterface>;

const netdevName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'must be a network interface name of 1-15 letters, digits, "_", ".", ":" or "-"');

// An uplink: a NIC or an SR-IOV VF netdev, attached with one AF_XDP socket per queue.
export const afxdpInterface = z
  .object({
    name,
    kind: z.literal('afxdp'),
    network: name,
    netdev: netdevName,
    queues: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
    mode: z.enum(['auto', 'zerocopy', 'copy']).default('auto'),
    xdp: z.enum(['auto', 'native', 'generic']).default('auto'),
    vlan: z.number().int().min(1).max(4094).optional(),
    mac: macAddress.optional(),
  })
  .strict();
export type AfxdpInterface = z.infer<typeof afxdpInterface>;

const cidr = z.string().refine((s) => {
  const [addr, len, ...rest] = s.split('/');
  const family = isIP(addr ?? '');
  const bits = Number(len);
  return rest.length === 0 && family !== 0 && len !== undefined && /^\d+$/.test(len) && bits <= (family === 4 ? 32 : 128);
}, 'must be an address with a prefix length, like 10.10.0.2/24');

// A kernel interface for an unmodified container: a veth pair, one end configured in the
// container's network namespace, the other attached to the switch with AF_XDP.
export const vethInterface = z
  .object({
    name,
    kind: z.literal('veth'),
    network: name,
    netns: z.string().refine((s) => s.startsWith('/'), 'must be a path like /var/run/netns/NAME or /proc/PID/ns/net'),
    ifname: netdevName.default('eth0'),
    addresses: z.array(cidr).default([]),
    routes: z
      .array(
        z
          .object({
            dst: z.union([cidr, z.literal('default')]),
            via: z.string().refine((s) => isIP(s) !== 0, 'must be an IP address').optional(),
          })
          .strict(),
      )
      .default([]),
    mtu: z.number().int().min(68).max(9000).default(1500),
    mac: macAddress.optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
  })
  .strict();
export type VethInterface = z.infer<typeof vethInterface>;

// Every interface kind, told apart by `kind`: the config file and the API share it.
export const interfaceSchema = z.discriminatedUnion('kind', [memifInterface, afxdpInterface, vethInterface]);
export type InterfaceConfig = z.infer<typeof interfaceSchema>;

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, 'must be host:port, like 127.0.0.1:9464')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

export const configSchema = z
  .object({
    dataplane: z
      .object({
        workers: z.number().int().min(1).max(64).default(1),
        cpus: z.array(z.number().int().min(0).max(1023)).min(1).optional(),
        macAgeSeconds: z.number().int().min(1).max(86400).default(300),
        macTableSize: z.number().int().min(64).max(16777216).default(65536),
        handshakeTimeoutMs: z.number().int().min(100).max(600000).default(5000),
        // adaptive: a worker idle this long sleeps on its queues' fds; busy: always polls.
        poll: z.enum(['adaptive', 'busy']).default('adaptive'),
        idleBeforeSleepUs: z.number().int().min(10).max(10_000_000).default(1000),
      })
      .strict()
      .default({}),
    networks: z.array(z.object({ name }).strict()).default([]),
    interfaces: z.array(interfaceSchema).default([]),
    api: z
      .object({
        // grpc-js serves filesystem unix sockets; the path limit is the same as memif's.
        socket: z
          .string()
          .max(107, 'must be at most 107 characters (the unix socket path limit)')
          .refine((s) => s.startsWith('/'), 'must be an absolute path')
          .default('/run/memswitch/api.sock'),
        tcp: hostPort.optional(),
      })
      .strict()
      .default({}),
    metrics: z
      .object({ enabled: z.boolean().default(true), listen: hostPort.default('127.0.0.1:9464') })
      .strict()
      .default({}),
    // Planned restarts: `memswitchd --takeover` takes the memif sessions of the running
    // daemon over this socket (default: handover.sock next to the API socket).
    handover: z
      .object({
        socket: z
          .string()
          .max(107, 'must be at most 107 characters (the unix socket path limit)')
          .refine((s) => s.startsWith('/'), 'must be an absolute path')
          .optional(),
        timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
      })
      .strict()
      .default({}),
    store: z
      .object({
        path: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/memswitch/state.db'),
      })
      .strict()
      .default({}),
    // CNI attachments: where the per-attachment JSON files go (mode 0600, read by the
    // workload), where the plugin spools DELs made while memswitchd was down, and where
    // file-mode memif sockets live.
    cni: z
      .object({
        infoDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/run/memswitch/attachments'),
        spoolDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/memswitch/cni-spool'),
        socketDir: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/run/memswitch/m'),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const networks = new Set<string>();
    cfg.networks.forEach((n, i) => {
      if (networks.has(n.name)) ctx.addIssue({ code: 'custom', path: ['networks', i, 'name'], message: `duplicate network "${n.name}"` });
      networks.add(n.name);
    });
    const names = new Set<string>();
    const endpoints = new Set<string>();
    const netdevs = new Set<string>();
    cfg.interfaces.forEach((itf, i) => {
      if (names.has(itf.name)) ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'name'], message: `duplicate interface "${itf.name}"` });
      names.add(itf.name);
      if (!networks.has(itf.network))
        ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'network'], message: `no network named "${itf.network}"` });
      if (itf.kind === 'memif') {
        const endpoint = `${itf.socket}#${itf.id}`;
        if (endpoints.has(endpoint))
          ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'id'], message: `id ${itf.id} is already used on socket ${itf.socket}` });
        endpoints.add(endpoint);
      } else if (itf.kind === 'afxdp') {
        if (netdevs.has(itf.netdev))
          ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'netdev'], message: `netdev ${itf.netdev} is already attached` });
        netdevs.add(itf.netdev);
      }
    });
  });
export type Config = z.infer<typeof configSchema>;
