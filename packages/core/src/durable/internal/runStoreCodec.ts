/**
 * How a journal record is written down, shared by every store: a JSON
 * envelope `{ v, s, t, e }` (format version, sequence, time, entry), a CRC-32
 * for the file store's lines, and the canonical JSON that step requests are
 * compared by.
 *
 * @internal
 */
import { JournalError } from "../Journal.ts"

/** The version of the record envelope this code writes and reads. */
export const FORMAT_VERSION = 1

/** A record as stores keep it: the envelope's JSON, plus what listing needs. */
export interface RawRecord {
  readonly sequence: number
  readonly at: number
  /** The run status, when the entry is a `Status` entry. */
  readonly status: "running" | "completed" | "failed" | "paused" | undefined
  /** The envelope, as JSON text without line breaks. */
  readonly json: string
}

/** A parsed envelope whose shape was checked (the entry is decoded later). */
export interface Envelope {
  readonly v: number
  readonly s: number
  readonly t: number
  readonly e: unknown
}

export const envelopeJson = (sequence: number, at: number, entry: unknown): string =>
  JSON.stringify({ v: FORMAT_VERSION, s: sequence, t: at, e: entry })

const isInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u)

/**
 * Checks the outer shape of a parsed record. The format version is checked
 * here too: a record written by a newer format is refused, never guessed at.
 */
export const checkEnvelope = (
  runId: string,
  expectedSequence: number,
  parsed: unknown
): Envelope | JournalError => {
  if (typeof parsed !== "object" || parsed === null) {
    return new JournalError({ runId, reason: "corrupted", sequence: expectedSequence, detail: "the record is not an object" })
  }
  const { e, s, t, v } = parsed as { v?: unknown; s?: unknown; t?: unknown; e?: unknown }
  if (!isInt(v)) {
    return new JournalError({ runId, reason: "corrupted", sequence: expectedSequence, detail: "the record has no format version" })
  }
  if (v !== FORMAT_VERSION) {
    return new JournalError({
      runId,
      reason: "version",
      sequence: expectedSequence,
      detail: `the record is in format version ${v}, this code reads version ${FORMAT_VERSION}` +
        (v > FORMAT_VERSION ? " (written by a newer release)" : " (no migration from it)")
    })
  }
  if (!isInt(s) || !isInt(t) || typeof e !== "object" || e === null) {
    return new JournalError({ runId, reason: "corrupted", sequence: expectedSequence, detail: "the record is malformed" })
  }
  if (s !== expectedSequence) {
    return new JournalError({
      runId,
      reason: "corrupted",
      sequence: expectedSequence,
      detail: `expected the record of sequence ${expectedSequence}, found sequence ${s}`
    })
  }
  return { v, s, t, e }
}

/** Parses one envelope's JSON text, or names what is wrong with it. */
export const parseEnvelope = (runId: string, expectedSequence: number, json: string): Envelope | JournalError => {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (error) {
    return new JournalError({
      runId,
      reason: "corrupted",
      sequence: expectedSequence,
      detail: `the record is not valid JSON: ${(error as Error).message}`
    })
  }
  return checkEnvelope(runId, expectedSequence, parsed)
}

// -----------------------------------------------------------------------------
// CRC-32 (IEEE), for the file store's lines
// -----------------------------------------------------------------------------

const table = (() => {
  const t = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  return t
})()

export const crc32 = (bytes: Uint8Array, start = 0, end = bytes.length): number => {
  let crc = -1
  for (let i = start; i < end; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

// -----------------------------------------------------------------------------
// Canonical JSON: how step requests are compared
// -----------------------------------------------------------------------------

const sortKeys = (_key: string, value: unknown): unknown => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  const sorted: { [key: string]: unknown } = {}
  for (const key of Object.keys(value).sort()) sorted[key] = (value as { [key: string]: unknown })[key]
  return sorted
}

/**
 * JSON with object keys sorted, so that two requests that are equal as JSON
 * compare equal whatever order their keys were built (or stored) in.
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(value, sortKeys) ?? "null"

/** A short, readable form of a request for error messages. */
export const preview = (json: string, max = 300): string => json.length <= max ? json : `${json.slice(0, max)}…`
