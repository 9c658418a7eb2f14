/**
 * The file store's line format: one record per line,
 * `<crc32 of the JSON, 8 hex digits> <envelope JSON>\n`. JSON has no raw line
 * breaks, so a line cut short by a crash has no newline, and a damaged one
 * fails its checksum.
 *
 * @internal
 */
import { JournalError } from "../Journal.ts"
import { crc32 } from "./runStoreCodec.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** One record's line. */
export const encodeLine = (json: string): Uint8Array => {
  const bytes = encoder.encode(json)
  const line = new Uint8Array(bytes.length + 10)
  line.set(encoder.encode(crc32(bytes).toString(16).padStart(8, "0") + " "), 0)
  line.set(bytes, 9)
  line[line.length - 1] = 0x0a
  return line
}

export interface Scan {
  readonly records: Array<unknown>
  readonly lastSequence: number
  /** Absolute offset of the end of the last valid record. */
  readonly validEnd: number
}

/** Checks one line `[start, end)` (without its newline); returns the parsed envelope or undefined. */
export const parseLine = (bytes: Uint8Array, start: number, end: number): { readonly s: unknown } | undefined => {
  if (end - start < 10 || bytes[start + 8] !== 0x20) return undefined
  const crc = Number.parseInt(decoder.decode(bytes.subarray(start, start + 8)), 16)
  if (!Number.isFinite(crc) || crc32(bytes, start + 9, end) !== crc) return undefined
  try {
    const parsed: unknown = JSON.parse(decoder.decode(bytes.subarray(start + 9, end)))
    return typeof parsed === "object" && parsed !== null ? parsed as { readonly s: unknown } : undefined
  } catch {
    return undefined
  }
}

const hasValidLineAfter = (bytes: Uint8Array, from: number): boolean => {
  let pos = from
  while (pos < bytes.length) {
    const nl = bytes.indexOf(0x0a, pos)
    if (nl === -1) return false
    if (parseLine(bytes, pos, nl) !== undefined) return true
    pos = nl + 1
  }
  return false
}

/**
 * Reads the records in `bytes` (starting at file offset `base`, with sequence
 * `firstSequence`). A bad or incomplete line with no valid line after it is a
 * torn tail: it ends the scan. A bad line followed by a valid one is damage in
 * the middle of the journal.
 */
export const scan = (runId: string, bytes: Uint8Array, base: number, firstSequence: number): Scan | JournalError => {
  const records: Array<unknown> = []
  let pos = 0
  let sequence = firstSequence
  while (pos < bytes.length) {
    const nl = bytes.indexOf(0x0a, pos)
    if (nl === -1) break
    const parsed = parseLine(bytes, pos, nl)
    if (parsed === undefined) {
      if (!hasValidLineAfter(bytes, nl + 1)) break
      return new JournalError({
        runId,
        reason: "corrupted",
        sequence,
        detail: `the line at byte ${base + pos} is damaged (checksum or JSON), and valid entries follow it`
      })
    }
    if (parsed.s !== sequence) {
      return new JournalError({
        runId,
        reason: "corrupted",
        sequence,
        detail: `the line at byte ${base + pos} holds sequence ${String(parsed.s)}, expected ${sequence}`
      })
    }
    records.push(parsed)
    sequence++
    pos = nl + 1
  }
  return { records, lastSequence: sequence - 1, validEnd: base + pos }
}

