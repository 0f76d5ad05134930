// One gRPC connection to memswitchd for one plugin run. The .proto files are compiled
// into the bundle as JSON (scripts/build-cni.mjs), so nothing is parsed from disk at
// start-up and the installed plugin is a single file.
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type * as m from '../../orchestrator/src/api/messages.js';
import { CniError, ErrorCode } from './skel.js';

declare const __MEMSWITCH_PROTO_JSON__: string;

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** A failed call, with the gRPC status kept for the caller's decisions. */
export class DaemonError extends Error {
  constructor(
    readonly status: grpc.status,
    readonly details: string,
  ) {
    super(`${grpc.status[status] ?? status}: ${details}`);
  }
  /** memswitchd is down, starting, or too slow: the runtime should retry (or DEL spools). */
  get transient(): boolean {
    return [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.CANCELLED].includes(this.status);
  }
}

/** gRPC status to the CNI error codes of cni-notes §4.12. */
export function toCniError(err: unknown, what: string): CniError {
  if (!(err instanceof DaemonError)) return new CniError(ErrorCode.daemonFailed, `${what} failed`, (err as Error).message);
  if (err.transient) return new CniError(ErrorCode.tryAgainLater, `memswitchd is not available (${what}); try again later`, err.details);
  switch (err.status) {
    case grpc.status.ALREADY_EXISTS: return new CniError(ErrorCode.attachmentExists, 'attachment exists with different parameters', err.details);
    case grpc.status.NOT_FOUND: return new CniError(ErrorCode.invalidConfig, `memswitchd rejected the ${what}`, err.details);
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION: return new CniError(ErrorCode.daemonRejected, `memswitchd rejected the ${what}`, err.details);
    default: return new CniError(ErrorCode.daemonFailed, `memswitchd failed the ${what}`, err.details);
  }
}

export class DaemonClient {
  private readonly attachments: grpc.Client;
  private readonly daemon: grpc.Client;

  constructor(
    readonly socket: string,
    private readonly timeoutMs: number,
  ) {
    const def = fromJSON(JSON.parse(__MEMSWITCH_PROTO_JSON__) as Parameters<typeof fromJSON>[0], {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const v1 = (grpc.loadPackageDefinition(def) as unknown as { memswitch: { v1: Record<string, grpc.ServiceClientConstructor> } }).memswitch.v1;
    // No retries or reconnect back-off past the deadline: a short-lived process.
    const opts = { 'grpc.enable_retries': 0, 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 200 };
    this.attachments = new v1.AttachmentService!(`unix://${socket}`, grpc.credentials.createInsecure(), opts);
    this.daemon = new v1.DaemonService!(`unix://${socket}`, grpc.credentials.createInsecure(), {
      ...opts,
      channelOverride: this.attachments.getChannel() as grpc.Channel,
    });
  }

  attach = (req: m.AttachRequest): Promise<m.AttachResponse> => this.call(this.attachments, 'Attach', req);
  detach = (req: m.DetachRequest): Promise<m.DetachResponse> => this.call(this.attachments, 'Detach', req);
  get = (req: m.GetAttachmentRequest): Promise<m.GetAttachmentResponse> => this.call(this.attachments, 'GetAttachment', req);
  gc = (req: m.GcAttachmentsRequest): Promise<m.GcAttachmentsResponse> => this.call(this.attachments, 'GcAttachments', req);
  info = (): Promise<m.GetDaemonInfoResponse> => this.call(this.daemon, 'GetDaemonInfo', {});

  close(): void {
    this.attachments.close();
  }

  private call<Res>(client: grpc.Client, method: string, req: unknown): Promise<Res> {
    const fn = (client as unknown as Record<string, Unary>)[method]!;
    return new Promise((resolve, reject) =>
      // No waitForReady: memswitchd down answers UNAVAILABLE at once (ADD: code 11, the
      // runtime retries; DEL: spooled), instead of holding the runtime until the deadline.
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(new DaemonError(err.code, err.details)) : resolve(res as Res),
      ),
    );
  }
}
