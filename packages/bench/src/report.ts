/**
 * The benchmark's results: every figure with its unit (and, for comparisons,
 * its ratio to the floor and the target it is held to), printed as tables and
 * written to `results.json`.
 */
import { format, type Stats } from "./measure.ts"

/** One measured figure. */
export interface Figure {
  readonly section: string
  /** What was measured, e.g. "sequential latency median". */
  readonly metric: string
  /** Which side measured it, e.g. "raw openai SDK". */
  readonly side: string
  readonly value: number
  readonly unit: string
  /** For comparisons: value / the floor's value for the same metric. */
  readonly ratio?: number | undefined
  /** For comparisons: value - the floor's value (for CPU per call). */
  readonly added?: number | undefined
  /** For CPU per call: the same measured on each interleaved call's own window (noisier). */
  readonly interleavedCpuUs?: number | undefined
  /** The target, in words, when one applies. */
  readonly target?: string | undefined
  readonly met?: boolean | undefined
}

export class Report {
  readonly figures: Array<Figure> = []
  readonly lines: Array<string> = []

  add(figure: Figure): Figure {
    this.figures.push(figure)
    return figure
  }

  print(line = ""): void {
    this.lines.push(line)
    console.log(line)
  }

  /** Prints a table: a header row and rows of cells, left column left-aligned, the rest right-aligned. */
  table(header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void {
    const all = [header, ...rows]
    const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)))
    const render = (row: ReadonlyArray<string>) =>
      row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")
    this.print(render(header))
    this.print(widths.map((w) => "-".repeat(w)).join("  "))
    for (const row of rows) this.print(render(row))
  }
}

export const us = (value: number) => `${format(value)} µs`
export const ms = (value: number, digits = 1) => `${format(value, digits)} ms`
export const ratio = (value: number | undefined) => (value === undefined ? "" : `${format(value, 2)}x`)
export const mark = (met: boolean | undefined) => (met === undefined ? "" : met ? "met" : "MISSED")

/**
 * Records and prints a sequential comparison: median, p95 and CPU per call of
 * each side, with ratios to the floor (the first side).
 */
export const comparison = (
  report: Report,
  section: string,
  title: string,
  stats: ReadonlyArray<{ readonly side: string; readonly stats: Stats }>,
  targets: {
    /** The side the targets apply to. */
    readonly side: string
    readonly medianRatio?: number | undefined
    readonly addedCpuUs?: number | undefined
  }
): void => {
  const floor = stats[0]!.stats
  report.print(`${title} (latency: ${floor.samples} interleaved calls per side; CPU: rotated blocks)`)
  const rows: Array<Array<string>> = []
  for (const { side, stats: s } of stats) {
    const isFloor = s === floor
    const targeted = side === targets.side
    const medianRatio = s.medianUs / floor.medianUs
    const p95Ratio = s.p95Us / floor.p95Us
    const added = s.cpuAddedUs ?? s.cpuUs - floor.cpuUs
    const medianTarget = targeted && targets.medianRatio !== undefined ? targets.medianRatio : undefined
    const cpuTarget = targeted && targets.addedCpuUs !== undefined ? targets.addedCpuUs : undefined
    report.add({
      section,
      metric: `${title}: latency median`,
      side,
      value: s.medianUs,
      unit: "µs",
      ratio: isFloor ? 1 : medianRatio,
      ...(medianTarget === undefined ? {} : { target: `ratio <= ${medianTarget}`, met: medianRatio <= medianTarget })
    })
    report.add({ section, metric: `${title}: latency p95`, side, value: s.p95Us, unit: "µs", ratio: isFloor ? 1 : p95Ratio })
    report.add({
      section,
      metric: `${title}: client CPU per call`,
      side,
      value: s.cpuUs,
      unit: "µs",
      ratio: isFloor ? 1 : s.cpuUs / floor.cpuUs,
      added: isFloor ? 0 : added,
      ...(s.cpuInterleavedUs === undefined ? {} : { interleavedCpuUs: s.cpuInterleavedUs }),
      ...(cpuTarget === undefined ? {} : { target: `added <= +${cpuTarget} µs`, met: added <= cpuTarget })
    })
    rows.push([
      isFloor ? `${side} (floor)` : side,
      us(s.medianUs),
      isFloor ? "1.00x" : ratio(medianRatio),
      us(s.p95Us),
      isFloor ? "1.00x" : ratio(p95Ratio),
      us(s.cpuUs),
      isFloor ? "" : `${added >= 0 ? "+" : ""}${format(added)} µs`,
      [
        medianTarget === undefined ? "" : `med<=${medianTarget}x ${mark(medianRatio <= medianTarget)}`,
        cpuTarget === undefined ? "" : `cpu<=+${cpuTarget} ${mark(added <= cpuTarget)}`
      ].filter((t) => t.length > 0).join(", ")
    ])
  }
  report.table(["side", "median", "ratio", "p95", "ratio", "CPU/call", "added CPU", "target"], rows)
  report.print()
}
