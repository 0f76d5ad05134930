// Every error code the native core can raise (native/core/src/util.cpp errc_code) maps
// to a domain error, so no native failure reaches a client as INTERNAL.
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { toStatus } from '../../orchestrator/src/api/status.js';
import { fromNativeError } from '../../orchestrator/src/domain/errors.js';

const nativeError = (code: string): Error => Object.assign(new Error(`core said ${code}`), { code });
const log = pino({ level: 'silent' });

describe('native errors', () => {
  it.each([
    ['EINVAL', status.INVALID_ARGUMENT],
    ['ENOENT', status.NOT_FOUND],
    ['EEXIST', status.ALREADY_EXISTS],
    ['ENOSPC', status.RESOURCE_EXHAUSTED],
    ['EIO', status.UNAVAILABLE],
    ['EPROTO', status.FAILED_PRECONDITION],
    ['ETIMEDOUT', status.UNAVAILABLE],
    ['EBUSY', status.FAILED_PRECONDITION],
    ['EAGAIN', status.UNAVAILABLE],
  ])('%s becomes gRPC %i with the core message and the field', (code, grpcCode) => {
    const e = fromNativeError(nativeError(code), 'interfaces.name');
    expect(e).toMatchObject({ field: 'interfaces.name' });
    expect(toStatus(e, log)).toEqual({ code: grpcCode, details: `core said ${code}` });
  });

  it('an error that did not come from the core stays INTERNAL and says nothing', () => {
    expect(toStatus(fromNativeError(new TypeError('x is undefined')), log)).toEqual({ code: status.INTERNAL, details: 'internal error' });
  });
});
