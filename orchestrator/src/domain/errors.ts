// Domain errors: the only error kinds the API layers map to status codes.
export class DomainError extends Error {
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class NotFoundError extends DomainError {}
export class AlreadyExistsError extends DomainError {}
export class InvalidConfigError extends DomainError {}
export class ResourceExhaustedError extends DomainError {}
export class NotReadyError extends DomainError {}
export class BusyError extends DomainError {}
/** Refused for now (a planned restart is handing over), a syscall failed, or it timed
 * out: worth retrying. */
export class UnavailableError extends DomainError {}
/** The request is well formed but the system is not in a state that allows it. */
export class FailedPreconditionError extends DomainError {}

// The binding throws Error with .code = "ENOENT" | "EEXIST" | ...; map it once here.
export function fromNativeError(err: unknown, field?: string): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const code = (err as Error & { code?: string }).code;
  switch (code) {
    case 'ENOENT': return new NotFoundError(err.message, field);
    case 'EEXIST': return new AlreadyExistsError(err.message, field);
    case 'EINVAL': return new InvalidConfigError(err.message, field);
    case 'ENOSPC': return new ResourceExhaustedError(err.message, field);
    case 'EBUSY': return new BusyError(err.message, field);
    case 'EPROTO': return new FailedPreconditionError(err.message, field);
    case 'EAGAIN':
    case 'EIO':
    case 'ETIMEDOUT': return new UnavailableError(err.message, field);
    default: return err; // not from the core (a bug): the API answers INTERNAL and logs it
  }
}
