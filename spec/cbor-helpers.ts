/**
 * Shared by the cbor specs: the committed vectors (spec/vectors/cbor.json, made by
 * spec/vectors/make-cbor-vectors.pl with CBOR::XS) and helpers to compare a decoded
 * packet with the json framing text of the same Perl value.
 */
import { readFileSync } from "node:fs";

export interface CborVector {
  call: string;
  source: string;
  cbor_hex: string;
  /** The json framing text of the same Perl value. */
  json: string;
  /** Integers past 2^53, exact, in the order a walk of the arrays meets them. */
  big?: string[];
}

export const CBOR_VECTORS: CborVector[] = (JSON.parse(readFileSync(new URL("vectors/cbor.json", import.meta.url), "utf8")) as { packets: CborVector[] }).packets;

/** The BigInts in `v` (arrays only, in order) as decimal strings. */
export function bigints(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) bigints(x, out);
  else if (typeof v === "bigint") out.push(v.toString());
  return out;
}

/** `v` with every BigInt made a number, as the json framing would give it. */
export function asJsonWould(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(asJsonWould);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asJsonWould(x)]));
  return v;
}
