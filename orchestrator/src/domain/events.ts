// The kinds of event the switch reports: the dataplane's own (spelled in C++ as
// MEMSWITCH_EVENT_KINDS, passed through under the same names) and the domain's. On the
// wire each is EVENT_KIND_<NAME> (EventKind in types.proto); a unit test holds all three
// to the same list.
export const EVENT_KINDS = [
  'peer_connected',
  'peer_disconnected',
  'protocol_error',
  'worker_stalled',
  'handed_over',
  'interface_up',
  'interface_down',
  'interface_created',
  'interface_deleted',
  'network_created',
  'network_deleted',
] as const;

export type SwitchEventKind = (typeof EVENT_KINDS)[number];

/** The proto enum name of a kind. */
export type WireEventKind = `EVENT_KIND_${Uppercase<SwitchEventKind>}`;
export const wireEventKind = (k: SwitchEventKind): WireEventKind => `EVENT_KIND_${k.toUpperCase()}` as WireEventKind;
