/**
 * One JSON line per event. Callers pass ids (session, user, conv), never tokens or
 * message bodies: nothing here could know which strings are secret.
 */
export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;
export type Logger = {
  [L in Level]: (msg: string, fields?: Fields) => void;
} & { child(fields: Fields): Logger };

export function createLogger(
  level: Level,
  base: Fields = {},
  write: (line: string) => void = (line) => console.log(line),
): Logger {
  const min = RANK[level];
  const at = (l: Level) => (msg: string, fields?: Fields) => {
    if (RANK[l] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: l, ...base, msg, ...fields }));
  };
  return {
    debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}

/**
 * For a payload that would not parse: JSON.parse's message quotes the input, which may
 * hold a message body, so only the kind of failure and the size are kept.
 */
export function unreadableFields(err: unknown, bytes: number): Fields {
  return err instanceof SyntaxError ? { err: "not valid JSON", bytes } : errorFields(err);
}

/**
 * What went wrong, for a log line: the message, a code, and the cause's message — the
 * detail clients are not shown, such as the address of a store that is away. A cause that
 * is a parse error is left out, as its message may quote a payload.
 */
export function errorFields(err: unknown): Fields {
  if (!(err instanceof Error)) return { err: String(err) };
  return {
    err: err.message,
    ...("code" in err ? { code: (err as { code: unknown }).code } : {}),
    ...(err.cause instanceof Error && !(err.cause instanceof SyntaxError) ? { cause: err.cause.message } : {}),
  };
}
