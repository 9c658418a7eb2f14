/**
 * Small text formatting helpers for the examples' output.
 */
import { Duration } from "effect"

export const count = (n: number): string => n.toLocaleString("en-US")

/** Dollars with enough digits for small model bills; `n/a` when the price is unknown. */
export const cost = (usd: number | undefined): string =>
  usd === undefined ? "n/a" : usd === 0 ? "$0" : usd < 0.01 ? `$${usd.toFixed(5)}` : `$${usd.toFixed(3)}`

export const duration = (d: Duration.Duration): string => {
  const ms = Duration.toMillis(d)
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`
}

export const plural = (n: number, word: string, many = `${word}s`): string => `${count(n)} ${n === 1 ? word : many}`

/** Left-aligned columns; `right` lists the columns to align right (numbers). */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  right: ReadonlyArray<number> = []
): Array<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (right.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ")
      .trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)]
}

/** Cuts a text to `max` characters. */
export const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)
