// `memswitch doctor`: checks this node for what memswitchd needs and says how to fix
// what is missing, one line each, instead of leaving users to read dmesg and DPDK docs.
// It reads /proc and /sys and asks memswitchd over the API; it changes nothing.
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import type { MemswitchClient } from '../sdk/index.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

const read = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

function kernel(): Check {
  const [major = 0, minor = 0] = release().split('.').map((x) => Number.parseInt(x, 10));
  const v = major * 1000 + minor;
  if (v < 5004) return { name: 'kernel', verdict: 'fail', detail: `Linux ${release()}`, fix: 'AF_XDP with need_wakeup needs Linux 5.4 or later' };
  if (v < 6006)
    return { name: 'kernel', verdict: 'warn', detail: `Linux ${release()}`, fix: 'frames larger than one UMEM chunk (MTU 9000 on AF_XDP ports) need Linux 6.6 (AF_XDP multi-buffer)' };
  return { name: 'kernel', verdict: 'ok', detail: `Linux ${release()}` };
}

function hugepages(): Check {
  const dir = '/sys/kernel/mm/hugepages/hugepages-2048kB';
  const total = Number(read(`${dir}/nr_hugepages`) ?? 0);
  const free = Number(read(`${dir}/free_hugepages`) ?? 0);
  const detail = `2 MiB pages: ${total} reserved, ${free} free`;
  const fix = 'reserve some: echo 512 > /proc/sys/vm/nr_hugepages (or hugepagesz=2M hugepages=512 on the kernel command line)';
  if (total === 0) return { name: 'hugepages', verdict: 'warn', detail, fix: `memif regions and AF_XDP UMEM fall back to 4 KiB pages (slower, counted); ${fix}` };
  if (free === 0) return { name: 'hugepages', verdict: 'warn', detail, fix: `all are in use, so new regions fall back to 4 KiB pages; ${fix}` };
  return { name: 'hugepages', verdict: 'ok', detail };
}

function bpffs(): Check {
  const mounted = (read('/proc/self/mounts') ?? '').split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf');
  return mounted
    ? { name: 'bpffs', verdict: 'ok', detail: '/sys/fs/bpf is mounted' }
    : { name: 'bpffs', verdict: 'warn', detail: '/sys/fs/bpf is not a bpf filesystem', fix: "mount -t bpf bpf /sys/fs/bpf (libxdp's dispatcher needs it to share a netdev with other XDP programs)" };
}

// Bits of CapEff (linux/capability.h).
const CAPS = { NET_ADMIN: 12, NET_RAW: 13, IPC_LOCK: 14, SYS_ADMIN: 21, BPF: 39 } as const;

function effectiveCaps(): bigint {
  return BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status') ?? '')?.[1] ?? '0'}`);
}

function capabilities(): Check {
  const eff = effectiveCaps();
  const missing = Object.entries(CAPS)
    .filter(([name, bit]) => !(eff & (1n << BigInt(bit))) && !(name === 'BPF' && eff & (1n << BigInt(CAPS.SYS_ADMIN))))
    .map(([name]) => name);
  if (missing.length === 0) return { name: 'capabilities', verdict: 'ok', detail: 'NET_ADMIN NET_RAW IPC_LOCK SYS_ADMIN (BPF)' };
  return {
    name: 'capabilities',
    verdict: 'warn',
    detail: `missing ${missing.join(' ')}`,
    fix: 'memif alone runs without them; AF_XDP uplinks, veth interfaces and memif sockets inside pod namespaces need them (run memswitchd as root, or grant them)',
  };
}

function memlock(): Check {
  if (effectiveCaps() & (1n << BigInt(CAPS.IPC_LOCK))) return { name: 'memlock', verdict: 'ok', detail: 'not limited (CAP_IPC_LOCK)' };
  const line = (read('/proc/self/limits') ?? '').split('\n').find((l) => l.startsWith('Max locked memory'));
  const soft = line?.split(/\s{2,}/)[1] ?? 'unknown';
  const bytes = soft === 'unlimited' ? Infinity : Number(soft);
  if (bytes >= 256 * 2 ** 20) return { name: 'memlock', verdict: 'ok', detail: `locked-memory limit ${soft === 'unlimited' ? soft : `${Math.floor(bytes / 2 ** 20)} MiB`}` };
  return {
    name: 'memlock',
    verdict: 'warn',
    detail: `locked-memory limit ${Number.isFinite(bytes) ? `${Math.floor(bytes / 1024)} KiB` : soft}`,
    fix: 'AF_XDP UMEM is locked memory (and so are BPF maps before Linux 5.11): ulimit -l unlimited, or LimitMEMLOCK=infinity in a systemd unit',
  };
}

function runDir(api: string): Check {
  const dir = path.dirname(api);
  if (!existsSync(dir)) return { name: 'run directory', verdict: 'warn', detail: `${dir} does not exist`, fix: `memswitchd creates it when it starts; workloads mount it for filesystem memif sockets` };
  try {
    accessSync(dir, constants.W_OK);
    return { name: 'run directory', verdict: 'ok', detail: `${dir} is writable` };
  } catch {
    return { name: 'run directory', verdict: 'warn', detail: `${dir} is not writable by this user`, fix: 'run memswitchd as root or as the owner of that directory' };
  }
}

async function daemon(client: MemswitchClient, api: string): Promise<Check> {
  try {
    const info = await client.getDaemonInfo();
    const stalled = info.workers.filter((w) => w.stalled).map((w) => w.index);
    if (stalled.length > 0)
      return { name: 'memswitchd', verdict: 'fail', detail: `worker ${stalled.join(', ')} stalled`, fix: 'a worker made no progress for 2 s: collect the log and restart memswitchd' };
    const fallback = info.memory.fallbackBytes > 0 ? `, ${Math.ceil(info.memory.fallbackBytes / 2 ** 20)} MiB on 4 KiB pages` : '';
    return { name: 'memswitchd', verdict: 'ok', detail: `${info.version} on ${api}: ${info.interfaces} interfaces, ${info.workers.length} workers${fallback}` };
  } catch (err) {
    return { name: 'memswitchd', verdict: 'fail', detail: `not answering on ${api}`, fix: `start it (npm start, or the DaemonSet); ${(err as Error).message.split('. Resolution')[0]}` };
  }
}

function cniPlugin(binDir: string, confDir: string): Check {
  const plugin = path.join(binDir, 'memswitch');
  if (!existsSync(plugin)) return { name: 'CNI plugin', verdict: 'warn', detail: `${plugin} is missing`, fix: `memswitch install-cni --dir ${binDir} (only needed where a container runtime attaches pods)` };
  let lists: string[] = [];
  try {
    lists = readdirSync(confDir).filter((f) => /\.conflist$|\.conf$/.test(f) && (read(path.join(confDir, f)) ?? '').includes('"memswitch"'));
  } catch {
    // no conf dir: the runtime is not configured here
  }
  return { name: 'CNI plugin', verdict: 'ok', detail: `${plugin}${lists.length ? `; networks in ${confDir}: ${lists.join(', ')}` : `; no memswitch network in ${confDir}`}` };
}

export async function runDoctor(client: MemswitchClient, api: string, cni: { binDir: string; confDir: string }): Promise<Check[]> {
  return [kernel(), hugepages(), bpffs(), capabilities(), memlock(), runDir(api), await daemon(client, api), cniPlugin(cni.binDir, cni.confDir)];
}
