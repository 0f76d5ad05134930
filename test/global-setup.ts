// Runs once around the whole vitest run. Tests need root (hugepages, /run, netns):
// say so plainly instead of failing in obscure ways. Hugepages are raised once for the
// run (memif regions and testpmd with --in-memory) and put back afterwards.
import { ensureHugepages } from '../bench/testpmd.js';

// Two testpmd instances (~26 pages each with --total-num-mbufs=16384) plus our clients.
const HUGEPAGES_FOR_TESTS = 160;

export default async function setup(): Promise<() => void> {
  if (process.getuid?.() !== 0) throw new Error('memswitch tests need root (hugepages, /run, netns): run as root');
  const restore = await ensureHugepages(HUGEPAGES_FOR_TESTS);
  return restore;
}
