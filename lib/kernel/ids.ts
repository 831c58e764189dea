/**
 * Node and port identity.
 *
 * IDs are plain strings as in AEMP: a node ID is any non-empty string without `#`,
 * a port ID is `NODEID#PORTNAME`, and the node port is `NODEID#` (empty name).
 * Port names are never reused within a node's life: `port()` names are a per-process
 * random prefix plus a counter (short, so idle ports stay small), `spawn` names are
 * fully random as in Perl, so a remote node cannot guess them ahead of time.
 */
import { randomBytes } from "node:crypto";
import { argumentError } from "../errors.ts";
import "./instance.ts"; // refuses to load beside another copy of aemp
import type { Message, PortId } from "./types.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `n` characters of [A-Za-z0-9] from a cryptographic source (what `%u` expands to). */
export function randomString(n = 10): string {
  const bytes = randomBytes(n * 2);
  let out = "";
  // 62 does not divide 256: drop bytes >= 248 so every character is equally likely.
  for (let i = 0; i < bytes.length && out.length < n; i++) {
    if (bytes[i] < 248) out += ALPHABET[bytes[i] % 62];
  }
  return out.length === n ? out : out + randomString(n - out.length);
}

let nodeId = `anon/${randomString()}`;
const portPrefix = `${randomString(4)}.`;
let portCounter = 0;

/** This node's ID. Before `configure` it is `anon/` plus a random part, usable only locally. */
export function NODE(): string {
  return nodeId;
}

/**
 * Whether `id` can be this node's ID: non-empty, without `#` (it ends the node part of
 * a port ID), `;` (it separates the greeting's fields) or control characters (lines).
 */
export function isValidNodeId(id: unknown): id is string {
  return typeof id === "string" && id !== "" && !/[#;\x00-\x1f\x7f]/.test(id);
}

/** Used by `configure` alone: a node is named once, before it talks to anyone. */
export function setNodeId(id: string): void {
  if (!isValidNodeId(id)) {
    throw new TypeError(`node ID must be a non-empty string without '#', ';' or control characters, received ${JSON.stringify(id)}`);
  }
  nodeId = id;
}

/** A fresh name for `port()`: unique for the life of this process. */
export function nextPortName(): string {
  return portPrefix + (++portCounter).toString(36);
}

/** A fresh random name for `spawn`. */
export function randomPortName(): string {
  return randomString(12);
}

/** The node ID of a port ID, or the argument itself if it is already a node ID. */
export function nodeOf(id: string): string {
  if (typeof id !== "string") throw new TypeError(`nodeOf: 'id' must be a port or node ID string, received ${typeof id}`);
  const hash = id.indexOf("#");
  return hash < 0 ? id : id.slice(0, hash);
}

/** Whether a port (or node) ID belongs to this node. */
export function portIsLocal(port: string): boolean {
  if (typeof port !== "string") throw new TypeError(`portIsLocal: 'port' must be a port or node ID string, received ${typeof port}`);
  return nodeOf(port) === nodeId;
}

/** Whether the string has the shape of a port ID (`node#name`, node part non-empty). */
export function isPortId(value: unknown): value is string {
  return typeof value === "string" && value.indexOf("#") > 0;
}

/**
 * Turns a plain port ID string (read from the database, a message, the command line)
 * into a typed port ID: a claim about what the port accepts, which the compiler then
 * holds senders to. Checks only that it looks like a port ID.
 *
 * `const worker = asPort<WorkerMsg>(Object.keys(pool)[0]);`
 */
export function asPort<M extends Message>(id: string): PortId<M> {
  if (!isPortId(id)) throw argumentError("asPort", "id", "a port ID string (node#name)", id);
  return id as PortId<M>;
}
