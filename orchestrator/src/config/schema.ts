// The daemon's config file: a strict schema (unknown keys are errors) with defaults
// written here, so a bad file fails with `path: message` before anything starts.
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
    vlan: z.number().int().min(1).max(4094).optional(),
    mac: macAddress.optional(),
  })
  .strict();
export type MemifInterface = z.infer<typeof memifInterface>;

// Every interface kind, told apart by `kind`: the config file and the API share it.
export const interfaceSchema = z.discriminatedUnion('kind', [memifInterface]);
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
    store: z
      .object({
        path: z.string().refine((s) => s.startsWith('/'), 'must be an absolute path').default('/var/lib/memswitch/state.db'),
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
    cfg.interfaces.forEach((itf, i) => {
      if (names.has(itf.name)) ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'name'], message: `duplicate interface "${itf.name}"` });
      names.add(itf.name);
      if (!networks.has(itf.network))
        ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'network'], message: `no network named "${itf.network}"` });
      const endpoint = `${itf.socket}#${itf.id}`;
      if (endpoints.has(endpoint))
        ctx.addIssue({ code: 'custom', path: ['interfaces', i, 'id'], message: `id ${itf.id} is already used on socket ${itf.socket}` });
      endpoints.add(endpoint);
    });
  });
export type Config = z.infer<typeof configSchema>;
