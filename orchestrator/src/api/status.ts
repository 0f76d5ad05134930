// The one place where errors become gRPC statuses. Clients get the domain message
// (which names the field); anything unexpected is logged here and answered INTERNAL,
// so no stack trace or internal detail ever reaches a client.
import { status, type StatusObject } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  BusyError,
  FailedPreconditionError,
  InvalidConfigError,
  NotFoundError,
  NotReadyError,
  ResourceExhaustedError,
  UnavailableError,
} from '../domain/errors.js';
import type { Logger } from '../log.js';

export function toStatus(err: unknown, log: Logger): Pick<StatusObject, 'code' | 'details'> {
  if (err instanceof InvalidConfigError) return { code: status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof NotFoundError) return { code: status.NOT_FOUND, details: err.message };
  if (err instanceof AlreadyExistsError) return { code: status.ALREADY_EXISTS, details: err.message };
  if (err instanceof FailedPreconditionError || err instanceof BusyError) return { code: status.FAILED_PRECONDITION, details: err.message };
  if (err instanceof ResourceExhaustedError) return { code: status.RESOURCE_EXHAUSTED, details: err.message };
  if (err instanceof NotReadyError || err instanceof UnavailableError) return { code: status.UNAVAILABLE, details: err.message };
  log.error({ err }, 'unhandled error in a gRPC handler');
  return { code: status.INTERNAL, details: 'internal error' };
}
