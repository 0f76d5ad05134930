// What a runtime test asks of memswitch once two containers pinged each other through it.
import { expect } from 'vitest';
import type { Attachment } from '../../orchestrator/src/api/messages.js';
import type { MemswitchClient } from '../../orchestrator/src/sdk/index.js';

/**
 * Each attachment's port took in and put out at least its side's 6 ICMP frames (3
 * requests, 3 replies; ARP on top), and the switch learned each one's MAC on its port.
 */
export async function expectForwardedThrough(client: MemswitchClient, network: string, attachments: Attachment[]): Promise<void> {
  const counters = (await client.getStats()).snapshot.interfaces;
  for (const att of attachments) {
    const c = counters.find((i) => i.interface === att.interface);
    expect(c, `counters of ${att.interface}`).toBeDefined();
    expect(c!.rxPackets).toBeGreaterThanOrEqual(6);
    expect(c!.txPackets).toBeGreaterThanOrEqual(6);
  }
  const macs = (await client.listMacTable({ network })).entries;
  for (const att of attachments) expect(macs).toContainEqual(expect.objectContaining({ mac: att.mac, interface: att.interface }));
}
