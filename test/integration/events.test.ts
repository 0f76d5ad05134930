// One list of event kinds: the domain's (EVENT_KINDS), the dataplane's own subset
// (MEMSWITCH_EVENT_KINDS, exported by the addon) and the wire's (EventKind in types.proto).
import { describe, expect, it } from 'vitest';
import { loadProtos } from '../../orchestrator/src/api/proto.js';
import { EVENT_KINDS, wireEventKind } from '../../orchestrator/src/domain/events.js';
import { loadAddon } from '../../orchestrator/src/dataplane/native.js';

describe('event kinds', () => {
  it('the proto enum has exactly the domain kinds, plus UNSPECIFIED', () => {
    const e = loadProtos().definition['memswitch.v1.EventKind'] as unknown as { type: { value: { name: string }[] } };
    const wire = e.type.value.map((v) => v.name).filter((n) => n !== 'EVENT_KIND_UNSPECIFIED');
    expect(wire.sort()).toEqual(EVENT_KINDS.map(wireEventKind).sort());
  });

  it('every kind the dataplane reports is a domain kind', () => {
    const native = loadAddon().eventKinds;
    expect(native.length).toBeGreaterThan(0);
    for (const k of native) expect(EVENT_KINDS).toContain(k);
  });
});
