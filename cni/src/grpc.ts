// A minimal gRPC unary client over node:http2 on a unix socket, with protobufjs/light
// for the messages. The plugin makes one or two calls per run; loading @grpc/grpc-js and
// @grpc/proto-loader took about 50 ms of its ~100 ms start-up, this takes about 20.
// Wire format (gRPC over HTTP/2): POST /package.Service/Method, content-type
// application/grpc, body = 1 flag byte + 4-byte big-endian length + the protobuf message;
// the status comes in the trailers (or in the headers of a trailers-only answer).
import http2 from 'node:http2';
import net from 'node:net';
import protobuf from 'protobufjs/light.js';

/** gRPC status codes this client produces or reads. */
export const Status = { OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, INTERNAL: 13, UNAVAILABLE: 14 } as const;
export const statusName = (code: number): string => Object.entries(Status).find(([, v]) => v === code)?.[0] ?? String(code);

export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${statusName(code)}: ${details}`);
  }
}

export class UnaryClient {
  private session: http2.ClientHttp2Session | undefined;
  private readonly root: protobuf.Root;

  constructor(
    private readonly socket: string,
    descriptor: protobuf.INamespace,
  ) {
    this.root = protobuf.Root.fromJSON(descriptor);
  }

  /** `method` is "package.Service/Method"; request and response types are looked up by name. */
  call<Res>(service: string, method: string, request: object, deadlineMs: number): Promise<Res> {
    const svc = this.root.lookupService(service);
    const m = svc.methods[method];
    if (!m) throw new Error(`no method ${service}/${method}`);
    const reqType = this.root.lookupType(m.requestType);
    const resType = this.root.lookupType(m.responseType);
    const body = reqType.encode(reqType.fromObject(request)).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);

    return new Promise<Res>((resolve, reject) => {
      let settled = false;
      const finish = (err: GrpcError | undefined, res?: Res): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res as Res);
      };
      const timer = setTimeout(() => {
        finish(new GrpcError(Status.DEADLINE_EXCEEDED, `no answer from ${this.socket} within ${deadlineMs} ms`));
        this.close();
      }, deadlineMs);

      const session = this.connect((err) => finish(new GrpcError(Status.UNAVAILABLE, `cannot reach ${this.socket}: ${err.message}`)));
      const req = session.request({
        ':method': 'POST',
        ':path': `/${service}/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${deadlineMs}m`,
      });
      const chunks: Buffer[] = [];
      let headerStatus: string | undefined;
      let headerMessage: string | undefined;
      req.on('response', (h) => {
        headerStatus = h['grpc-status'] as string | undefined;
        headerMessage = h['grpc-message'] as string | undefined;
      });
      req.on('data', (d: Buffer) => chunks.push(d));
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('trailers', (t) => (trailers = t));
      req.on('error', (err) => finish(new GrpcError(Status.UNAVAILABLE, `${this.socket}: ${err.message}`)));
      req.on('close', () => {
        const raw = trailers['grpc-status'] ?? headerStatus;
        // No status at all: the connection went away mid-call (memswitchd died or restarted).
        if (raw === undefined) return finish(new GrpcError(Status.UNAVAILABLE, `${this.socket}: connection closed before an answer`));
        const code = Number(raw);
        if (code !== Status.OK) {
          const msg = (trailers['grpc-message'] as string | undefined) ?? headerMessage ?? '';
          return finish(new GrpcError(code, safeDecode(msg)));
        }
        const data = Buffer.concat(chunks);
        if (data.length < 5) return finish(new GrpcError(Status.INTERNAL, 'empty response'));
        const msg = resType.decode(data.subarray(5, 5 + data.readUInt32BE(1)));
        finish(undefined, resType.toObject(msg, { longs: Number, enums: String, defaults: true, arrays: true }) as Res);
      });
      req.end(frame);
    });
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private connect(onError: (err: Error) => void): http2.ClientHttp2Session {
    if (!this.session || this.session.destroyed) {
      this.session = http2.connect('http://localhost', { createConnection: () => net.connect(this.socket) });
      this.session.on('error', onError);
    }
    return this.session;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
