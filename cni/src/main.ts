// memswitch-cni: the CNI plugin. Parse and check what the runtime gave, make one call to
// memswitchd (plus the delegated IPAM), print the result or the error document on stdout,
// exit. Logs go to stderr or the netconf's logFile.
import { cmdAdd } from './add.js';
import { cmdCheck } from './check.js';
import { parseNetConf } from './config.js';
import { createContext } from './context.js';
import { cmdDel } from './del.js';
import { cmdGc } from './gc.js';
import { createLog } from './log.js';
import { cmdStatus } from './status.js';
import { CniError, decodeJson, errorJson, readArgs, SUPPORTED_VERSIONS } from './skel.js';

export async function run(env: NodeJS.ProcessEnv): Promise<{ stdout: string; code: number }> {
  let cniVersion: string | undefined;
  let close = (): void => {};
  try {
    const args = readArgs(env);
    if (args.command === 'VERSION') {
      // Answers in the version it was asked in; an empty stdin asks in the newest.
      let asked: unknown = SUPPORTED_VERSIONS.at(-1);
      if (args.stdin.toString().trim()) asked = decodeJson(args.stdin).cniVersion ?? asked;
      return { stdout: JSON.stringify({ cniVersion: asked, supportedVersions: SUPPORTED_VERSIONS }), code: 0 };
    }
    const raw = decodeJson(args.stdin);
    if (typeof raw.cniVersion === 'string') cniVersion = raw.cniVersion;
    // DEL must work with whatever the runtime cached, garbage included: it is not used.
    const conf = parseNetConf(args.command === 'DEL' ? { ...raw, prevResult: undefined } : raw);
    const log = createLog({ command: args.command, network: conf.name, containerId: args.containerId || undefined, ifname: args.ifname || undefined }, conf.logFile);
    const ctx = createContext(args, conf, log);
    close = ctx.close;
    const started = performance.now();
    try {
      switch (args.command) {
        case 'ADD':
          return { stdout: JSON.stringify(await cmdAdd(ctx)), code: 0 };
        case 'DEL':
          await cmdDel(ctx);
          break;
        case 'CHECK':
          await cmdCheck(ctx);
          break;
        case 'STATUS':
          await cmdStatus(ctx);
          break;
        case 'GC':
          await cmdGc(ctx);
          break;
      }
      return { stdout: '', code: 0 };
    } catch (err) {
      const e = err instanceof CniError ? err : new CniError(999, 'internal error', (err as Error).message);
      log('error', e.msg, { code: e.code, details: e.details || undefined });
      throw e;
    } finally {
      log('debug', 'done', { ms: Math.round(performance.now() - started) });
    }
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(999, 'internal error', (err as Error).message);
    return { stdout: errorJson(e, cniVersion), code: 1 };
  } finally {
    close();
  }
}

// Leave as soon as the answer is written: nothing else is worth waiting for.
void run(process.env).then(({ stdout, code }) => {
  process.stdout.write(stdout, () => process.exit(code));
});
