/**
 * One error factory with stable codes (CONTRACT §4 "Error codes"). Every refusal in
 * duplex is a DuplexError: the code is for programs, the message is a sentence for
 * people that names the field or option at fault.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class DuplexError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DuplexError";
    this.code = code;
  }
  get status(): (typeof ERROR_STATUS)[ErrorCode] {
    return ERROR_STATUS[this.code];
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function duplexError(code: ErrorCode, message: string, cause?: unknown): DuplexError {
  return new DuplexError(code, message, cause === undefined ? undefined : { cause });
}

/** Anything thrown below the hub that is not a DuplexError means a dependency failed. */
export function asDuplexError(err: unknown): DuplexError {
  if (err instanceof DuplexError) return err;
  return duplexError("unavailable", "the message store or broker is unavailable; retry later", err);
}
