// memif listeners bound inside a pod's network namespace: the pod reaches an abstract
// socket there with no hostPath mount, and nobody outside that namespace can.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { repoRoot } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';
import { TestSwitch, abstractSocket, eventually, mac } from '../helpers/switch.js';

let sw: TestSwitch | undefined;
const net = new Netns();
afterEach(() => {
  sw?.close();
  sw = undefined;
  net.cleanup();
});

it('serves an abstract memif socket inside the pod netns only', async () => {
  sw = new TestSwitch();
  const pod = net.add('pod');
  const podSock = '@msw-pod-memif';
  sw.dp.addMemif({ name: 'pod', kind: 'memif', network: 'blue', socket: podSock, id: 0, netns: pod.path });
  const hostSock = abstractSocket('host');
  sw.memif('host', hostSock, 0);
  // The same name in the host namespace is not the pod's socket.
  expect(() => sw!.client({ socket: podSock, id: 0, timeoutMs: 500 })).toThrow(/connect @msw-pod-memif/);

  const host = sw.client({ socket: hostSock, id: 0 });
  const eng = sw.engine();
  const sink = eng.addSink(host);
  eng.start();
  // A workload inside the pod: a separate process in that netns, sending 1000 frames.
  const addonPath = path.join(repoRoot, 'build/addon/Release/memswitch_testing.node');
  const child = net.spawn(pod.name, [process.execPath, '-e', `
    const m = require(${JSON.stringify(addonPath)});
    const c = new m.MemifClient({ socket: ${JSON.stringify(podSock)}, id: 0, hugepages: false });
    const e = new m.TrafficEngine();
    e.addGenerator(c, { src: ${JSON.stringify(mac(0x501))}, dst: ${JSON.stringify(mac(0x502))}, count: 1000, pps: 100000 });
    e.start();
    const t = setInterval(() => { if (e.generatorsDone()) { clearInterval(t); e.stop(); c.close(); console.log('sent'); } }, 20);`]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => eng.stats(sink).rxPackets >= 1000, 10_000, '1000 frames from the pod');
  eng.stop();
  await eventually(() => out.includes('sent'), 5000, 'the pod workload to finish');
  expect(sw.dp.interface('pod').connects).toBe(1);
  expect(eng.stats(sink)).toMatchObject({ rxPackets: 1000, lost: 0 });
});
