// One gRPC connection to memswitchd for one plugin run. The .proto files are compiled
// into the bundle as JSON (scripts/build-cni.mjs), so nothing is parsed from disk at
// start-up and the installed plugin is a single file.
import type protobuf from 'protobufjs/light.js';
import type * as m from '../../orchestrator/src/api/messages.js';
import { GrpcError, Status, UnaryClient } from './grpc.js';
import { CniError, ErrorCode } from './skel.js';

declare const __MEMSWITCH_PROTO_JSON__: string;

/** A failed call, with the gRPC status kept for the caller's decisions. */
export class DaemonError extends Error {
  constructor(
    readonly status: number,
    readonly details: string,
  ) {
    super(details);
  }
  /** memswitchd is down, starting, or too slow: the runtime should retry (or DEL spools). */
  get transient(): boolean {
    return ([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED, Status.CANCELLED] as number[]).includes(this.status);
  }
}

/** gRPC status to the CNI error codes of cni-notes §4.12. */
export function toCniError(err: unknown, what: string): CniError {
  if (!(err instanceof DaemonError)) return new CniError(ErrorCode.daemonFailed, `${what} failed`, (err as Error).message);
  if (err.transient) return new CniError(ErrorCode.tryAgainLater, `memswitchd is not available (${what}); try again later`, err.details);
  switch (err.status) {
    case Status.ALREADY_EXISTS: return new CniError(ErrorCode.attachmentExists, 'attachment exists with different parameters', err.details);
    case Status.NOT_FOUND: return new CniError(ErrorCode.invalidConfig, `memswitchd rejected the ${what}`, err.details);
    case Status.INVALID_ARGUMENT:
    case Status.FAILED_PRECONDITION: return new CniError(ErrorCode.daemonRejected, `memswitchd rejected the ${what}`, err.details);
    default: return new CniError(ErrorCode.daemonFailed, `memswitchd failed the ${what}`, err.details);
  }
}

export class DaemonClient {
  private readonly client: UnaryClient;

  constructor(
    readonly socket: string,
    private readonly timeoutMs: number,
  ) {
    // The .proto files compiled to JSON by scripts/build-cni.mjs: nothing parsed at start-up.
    this.client = new UnaryClient(socket, JSON.parse(__MEMSWITCH_PROTO_JSON__) as protobuf.INamespace);
  }

  attach = (req: m.AttachRequest): Promise<m.AttachResponse> => this.call('AttachmentService', 'Attach', req);
  detach = (req: m.DetachRequest): Promise<m.DetachResponse> => this.call('AttachmentService', 'Detach', req);
  get = (req: m.GetAttachmentRequest): Promise<m.GetAttachmentResponse> => this.call('AttachmentService', 'GetAttachment', req);
  list = (req: m.ListAttachmentsRequest): Promise<m.ListAttachmentsResponse> => this.call('AttachmentService', 'ListAttachments', req);
  info = (): Promise<m.GetDaemonInfoResponse> => this.call('DaemonService', 'GetDaemonInfo', {});
  gc = (req: m.GcAttachmentsRequest): Promise<m.GcAttachmentsResponse> => this.call('AttachmentService', 'GcAttachments', req);

  close(): void {
    this.client.close();
  }

  // memswitchd down answers UNAVAILABLE at once (ADD: code 11, the runtime retries; DEL:
  // spooled) instead of holding the runtime until the deadline.
  private call<Res>(service: string, method: string, req: object): Promise<Res> {
    return this.client.call<Res>(`memswitch.v1.${service}`, method, req, this.timeoutMs).catch((err: unknown) => {
      throw err instanceof GrpcError ? new DaemonError(err.code, err.details) : err;
    });
  }
}
