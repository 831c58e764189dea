/**
 * Validating what other nodes send: a port may carry a schema in the Standard Schema
 * form (the `~standard` property that zod, valibot, arktype and others implement), so
 * no schema library is a dependency. The interface is written out here, in the small
 * part aemp uses.
 *
 * Only messages that arrive from another node are checked, on arrival, before they
 * are queued; local sends are checked by the compiler, and cost nothing at run time.
 * A message that fails never reaches the receiver. By default it is dropped with a
 * warning naming the port and the schema's first issue (at most one warning per port
 * per second, counting the others, so a hostile peer cannot flood the log); with
 * `onInvalid: "kill"` the port is killed with `["invalid_message", text]` instead,
 * after the messages queued before the bad one have been delivered.
 *
 * Validation is synchronous, so it keeps AEMP's order from one node to a port. A
 * schema whose `validate` returns a promise (zod with an async refinement, for
 * instance) is therefore treated as failing, with an issue saying so; a schema that
 * throws fails with the thrown message. A passing message is replaced by the schema's
 * output value (so transforms and defaults apply); an output that is not an array fails.
 */
import { argumentError } from "../errors.ts";
import { warn } from "../log.ts";
import type { Message } from "./types.ts";

/** One problem a schema found. */
export interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** What a schema's `validate` returns. */
export type SchemaResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<SchemaIssue> };

/**
 * A Standard Schema (v1) whose output is a message: what zod, valibot or arktype build
 * for a tuple or a union of tuples, e.g.
 * `z.union([z.tuple([z.literal("ping"), z.number()]), z.tuple([z.literal("stop")])])`.
 */
export interface MessageSchema<M extends Message = Message> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<M> | Promise<SchemaResult<M>>;
    readonly types?: { readonly input: unknown; readonly output: M } | undefined;
  };
}

/** The message type a schema produces. */
export type InferMessage<S extends MessageSchema> = NonNullable<S["~standard"]["types"]>["output"];

/** What a port does with a remote message that fails its schema. */
export type InvalidMessageAction = "drop" | "kill";

/** `port(options)`, `portAsync(options, fn)`: a schema and what to do when it fails. */
export interface PortOptions<S extends MessageSchema = MessageSchema> {
  /** Checks every message that arrives from another node. */
  schema: S;
  /**
   * `"drop"` (default): drop the message with a warning. `"kill"`: kill the port with
   * `["invalid_message", text]`.
   */
  onInvalid?: InvalidMessageAction | undefined;
}

/** A port's schema and what it does on failure; what the kernel keeps per validated port. */
export class Validator {
  private lastWarning = -Infinity;
  private unreported = 0;
  constructor(
    readonly portId: string,
    private readonly schema: MessageSchema,
    readonly onInvalid: InvalidMessageAction,
  ) {}

  /** The message to deliver (the schema's output), or the text of the first problem. */
  check(msg: Message): { ok: true; msg: Message } | { ok: false; text: string } {
    let result: ReturnType<MessageSchema["~standard"]["validate"]>;
    try {
      result = this.schema["~standard"].validate(msg);
    } catch (err) {
      return { ok: false, text: `the schema threw: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (result instanceof Promise || typeof (result as { then?: unknown }).then === "function") {
      // A rejection here would be unhandled; the outcome is ignored either way.
      Promise.resolve(result).catch(() => {});
      return { ok: false, text: "the schema validates asynchronously (aemp validates on arrival, synchronously, to keep message order)" };
    }
    const r = result as SchemaResult<Message>;
    if (r.issues !== undefined) return { ok: false, text: issueText(r.issues[0]) };
    if (!Array.isArray(r.value)) return { ok: false, text: "the schema's output is not an array" };
    return { ok: true, msg: r.value };
  }

  /** Says that a message from node `from` was dropped: at most once a second, with a count of the rest. */
  reportDropped(text: string, from: string): void {
    const now = performance.now();
    if (now - this.lastWarning < 1000) {
      this.unreported++;
      return;
    }
    const more = this.unreported === 0 ? "" : ` (and ${this.unreported} more since the last warning)`;
    this.lastWarning = now;
    this.unreported = 0;
    warn(`dropped a message from ${from} for port ${this.portId}: ${text}${more}`);
  }
}

type PathKey = PropertyKey | { readonly key: PropertyKey };

function keysOf(path: readonly PathKey[] | undefined): PropertyKey[] {
  return (path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p));
}

/** Whether an issue is about element 0, the tag: then its alternative was not the one meant. */
function aboutTag(issue: SchemaIssue, base: readonly PropertyKey[]): boolean {
  return String([...base, ...keysOf(issue.path)][0]) === "0";
}

/**
 * The first issue as text, with its path. A union (the usual schema for a port: one
 * tuple per tag) fails as one vague issue that holds the issues of each alternative;
 * then the alternative whose tag matched says what was wrong (with no such alternative,
 * the first one says the tag is wrong). zod lists them per
 * alternative, with paths relative to the union (`errors`); valibot in one list, with
 * paths from the root (`issues`), where the first issue not about the tag is taken.
 * Standard Schema defines neither, so this is a best effort on top of it.
 */
function issueText(issue: SchemaIssue | undefined, base: readonly PropertyKey[] = []): string {
  if (issue === undefined) return "invalid message";
  const path = [...base, ...keysOf(issue.path)];
  const { errors, issues } = issue as { errors?: unknown; issues?: unknown };
  if (Array.isArray(errors)) {
    const alternatives = errors.filter((alt): alt is SchemaIssue[] => Array.isArray(alt) && alt.length > 0);
    const meant = alternatives.find((alt) => !alt.some((i) => aboutTag(i, path))) ?? alternatives[0];
    if (meant !== undefined) return issueText(meant[0], path);
  }
  if (Array.isArray(issues) && issues.length > 0) {
    const nested = issues as SchemaIssue[];
    const meant = nested.find((i) => !aboutTag(i, [])) ?? nested[0]!;
    return issueText(meant, keysOf(meant.path).length === 0 ? path : []);
  }
  return path.length === 0 ? issue.message : `${issue.message} (at ${path.map(String).join(".")})`;
}

/** Whether `value` is a Standard Schema (any vendor, any type: zod, valibot, arktype...). */
export function isSchema(value: unknown): value is MessageSchema {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const std = (value as { "~standard"?: { validate?: unknown } })["~standard"];
  return typeof std === "object" && std !== null && typeof std.validate === "function";
}

/**
 * Reads the first argument of `port(schema | options, cb?)`: a schema, or
 * `{ schema, onInvalid? }`. Throws a TypeError naming what is wrong.
 */
export function schemaOptions(fn: string, value: unknown): { schema: MessageSchema; onInvalid: InvalidMessageAction } {
  if (isSchema(value)) return { schema: value, onInvalid: "drop" };
  if (typeof value !== "object" || value === null) throw argumentError(fn, "options", "a Standard Schema or { schema, onInvalid? }", value);
  const { schema, onInvalid = "drop" } = value as PortOptions;
  if (!isSchema(schema)) throw argumentError(fn, "schema", "a Standard Schema (an object with a '~standard' validate function)", schema);
  if (onInvalid !== "drop" && onInvalid !== "kill") throw argumentError(fn, "onInvalid", "\"drop\" or \"kill\"", onInvalid);
  return { schema, onInvalid };
}
