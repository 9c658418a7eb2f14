/**
 * What the user sees while the tickets are triaged. The agent reports its
 * steps as `AgentEvent`s, retries come through `RetryPolicy.OnRetry`, and the
 * journal tells live steps from replayed ones; this module keeps one row per
 * ticket from them and shows it:
 *
 * - on a terminal, a live block with a line per ticket (state, current
 *   activity, steps, tokens, cost, retries, repairs), redrawn in place;
 * - otherwise (a pipe, a CI log), plain lines for what matters: retries,
 *   repairs, failed tool calls, tickets finished.
 *
 * Events of steps replayed from the journal update the numbers but print
 * nothing: they happened in an earlier process, which already said so.
 */
import type { AgentEvent, RetryPolicy } from "@effect-harness/core"
import { Effect, type Scope } from "effect"
import * as Format from "../shared/format.ts"

export type Status = "waiting" | "running" | "done" | "failed"

export interface Row {
  readonly id: string
  status: Status
  /** The ticket had journal entries before this process started. */
  resumed: boolean
  step: number
  activity: string
  inputTokens: number
  outputTokens: number
  cost: number | undefined
  toolCalls: number
  retries: number
  repairs: number
  /** Journal steps (model and tool calls) run in this process, and replayed from the journal. */
  live: number
  replayed: number
  /** The last journal step was a replay: its events are not news. */
  replaying: boolean
  /** The last step answered without tool calls: a next step means the answer was sent back for repair. */
  answered: boolean
  lastAnswer: string
  outcome: string
  error: string
}

/** The part of a row another process reports: everything but its private bookkeeping. */
export type Reported = Omit<Row, "id" | "replaying" | "answered" | "lastAnswer">

const spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

const answerIssue = (text: string) => {
  try {
    JSON.parse(text)
    return "it did not match the Schema"
  } catch {
    return "it was not valid JSON"
  }
}

export class Progress {
  readonly rows: ReadonlyArray<Row>
  readonly #byId: Map<string, Row>
  readonly #tty: boolean
  readonly #write: (text: string) => void
  #drawn = 0
  #frame = 0

  constructor(ids: ReadonlyArray<string>, options: { readonly tty: boolean; readonly write: (text: string) => void }) {
    this.rows = ids.map((id): Row => ({
      id,
      status: "waiting",
      resumed: false,
      step: 0,
      activity: "waiting",
      inputTokens: 0,
      outputTokens: 0,
      cost: 0,
      toolCalls: 0,
      retries: 0,
      repairs: 0,
      live: 0,
      replayed: 0,
      replaying: false,
      answered: false,
      lastAnswer: "",
      outcome: "",
      error: ""
    }))
    this.#byId = new Map(this.rows.map((row) => [row.id, row]))
    this.#tty = options.tty
    this.#write = options.write
  }

  /** The progress on this process's stdout: the live block on a terminal, plain lines otherwise. */
  static stdout(ids: ReadonlyArray<string>): Progress {
    return new Progress(ids, { tty: process.stdout.isTTY === true, write: (text) => void process.stdout.write(text) })
  }

  #row(id: string): Row {
    return this.#byId.get(id)!
  }

  /** A plain line, on a pipe only, and only for live news. */
  #say(row: Row, text: string) {
    if (!this.#tty && !row.replaying) this.#write(`${row.id.padEnd(this.#idWidth)}  ${text}\n`)
  }

  get #idWidth() {
    return Math.max(...this.rows.map((row) => row.id.length))
  }

  /** A plain line about a ticket (on a pipe), such as a worker saying it took the ticket. */
  readonly note = (id: string, text: string) => Effect.sync(() => this.#say(this.#row(id), text))

  /**
   * What another process (a worker) reported of a ticket: its numbers and
   * activity. Whether the ticket is done stays this process's to say.
   */
  readonly reported = (id: string, report: Reported) =>
    Effect.sync(() => {
      const row = this.#row(id)
      if (row.status === "done" || row.status === "failed") return
      const { status, ...numbers } = report
      Object.assign(row, numbers)
      if (row.status === "waiting" && status !== "waiting") row.status = "running"
    })

  readonly started = (id: string, resumed: boolean) =>
    Effect.sync(() => {
      const row = this.#row(id)
      row.status = "running"
      row.resumed = resumed
      row.activity = resumed ? "replaying the journal" : "thinking"
    })

  /** A journal step completed: `live` when it ran now, replayed otherwise. */
  readonly journaled = (id: string, kind: string, live: boolean, answer: string | undefined) =>
    Effect.sync(() => {
      const row = this.#row(id)
      row.replaying = !live
      if (live) row.live++
      else row.replayed++
      if (kind === "model" && answer !== undefined) row.lastAnswer = answer
    })

  readonly event = (id: string, event: AgentEvent.AgentEvent) =>
    Effect.sync(() => {
      const row = this.#row(id)
      switch (event._tag) {
        case "StepStarted":
          if (row.answered) {
            row.repairs++
            this.#say(row, `repair: the answer was sent back to the model, ${answerIssue(row.lastAnswer)}`)
          }
          row.answered = false
          row.step = event.step
          if (!row.replaying) row.activity = "thinking"
          break
        case "ToolCalled":
          row.activity = `${event.name}(${Format.cut(Object.values(event.params as object).map(String).join(", "), 24)})`
          break
        case "ToolReturned":
          if (event.isFailure) {
            const message = (event.result as { message?: unknown })?.message
            this.#say(row, `tool ${event.name} failed, the model is told: ${Format.cut(String(message ?? ""), 100)}`)
          }
          break
        case "UsageUpdated":
          row.inputTokens = event.usage.inputTokens
          row.outputTokens = event.usage.outputTokens
          row.cost = event.usage.cost
          row.toolCalls = event.usage.toolCalls
          break
        case "StepFinished":
          row.answered = event.toolCalls === 0
          if (row.answered) row.activity = "checking the answer"
          break
        case "Finished":
          row.inputTokens = event.usage.inputTokens
          row.outputTokens = event.usage.outputTokens
          row.cost = event.usage.cost
          row.toolCalls = event.usage.toolCalls
          break
      }
    })

  readonly retry = (id: string, retry: RetryPolicy.RetryScheduled) =>
    Effect.sync(() => {
      const row = this.#row(id)
      row.retries++
      const error = retry.error
      const what = error._tag === "RateLimited"
        ? `rate limited (${error.status ?? 429})`
        : error._tag === "ProviderUnavailable"
        ? `server unavailable${error.status === undefined ? "" : ` (${error.status})`}`
        : error._tag === "ConnectionFailed"
        ? "connection failed"
        : error._tag === "Timeout"
        ? "timed out"
        : error._tag
      row.activity = `retry ${retry.attempt}: ${what}, waiting ${Format.duration(retry.delay)}`
      this.#say(row, row.activity)
    })

  readonly done = (id: string, outcome: string) =>
    Effect.sync(() => {
      const row = this.#row(id)
      row.status = "done"
      row.outcome = outcome
      row.activity = outcome
      row.replaying = false
      const source = row.live === 0
        ? "replayed from the journal, 0 new calls"
        : row.replayed > 0
        ? `resumed: ${Format.plural(row.replayed, "step")} replayed, ${row.live} run now`
        : `${Format.plural(row.toolCalls, "tool call")}`
      this.#say(
        row,
        `done     ${outcome}  ${Format.plural(row.step, "step")}, ${Format.count(row.inputTokens + row.outputTokens)} tokens, ` +
          `${Format.cost(row.cost)}, ${Format.plural(row.retries, "retry", "retries")}, ` +
          `${Format.plural(row.repairs, "repair")} (${source})`
      )
    })

  readonly failed = (id: string, error: string) =>
    Effect.sync(() => {
      const row = this.#row(id)
      row.status = "failed"
      row.error = error
      row.activity = `failed: ${error}`
      row.replaying = false
      this.#say(row, `failed   ${error}`)
    })

  // ---------------------------------------------------------------------------
  // Terminal
  // ---------------------------------------------------------------------------

  // numbers first, the activity last: a narrow terminal cuts the activity, not the numbers
  #line(row: Row): string {
    const icon = row.status === "done" ? "✔" : row.status === "failed" ? "✘" : row.status === "waiting" ? "·" :
      spinner[this.#frame % spinner.length]!
    const state = row.status === "running" ? `step ${row.step}` : row.status
    const head = `  ${row.id.padEnd(this.#idWidth)}  ${icon} ${state.padEnd(7)}`
    if (row.status === "waiting") return head
    const activity = row.status === "done" && row.live === 0 ? `${row.activity} (replayed)` : row.activity
    return [
      head,
      `${Format.count(row.inputTokens + row.outputTokens).padStart(6)} tok`,
      Format.cost(row.cost).padStart(8),
      `retries ${row.retries}`,
      `repairs ${row.repairs}`,
      activity
    ].join("  ")
  }

  #totals(): string {
    const done = this.rows.filter((row) => row.status === "done").length
    const sum = (f: (row: Row) => number) => this.rows.reduce((total, row) => total + f(row), 0)
    const cost = this.rows.every((row) => row.cost !== undefined) ? sum((row) => row.cost ?? 0) : undefined
    return `  ${done}/${this.rows.length} done · ${Format.count(sum((row) => row.inputTokens + row.outputTokens))} tokens · ` +
      `${Format.cost(cost)} · ${Format.plural(sum((row) => row.retries), "retry", "retries")} · ` +
      `${Format.plural(sum((row) => row.repairs), "repair")}`
  }

  /** Redraws the block in place. */
  draw(): void {
    if (!this.#tty) return
    this.#frame++
    const columns = process.stdout.columns
    const width = columns !== undefined && columns > 20 ? columns - 1 : 119
    const lines = [...this.rows.map((row) => this.#line(row)), "", this.#totals()].map((line) => Format.cut(line, width))
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : ""
    this.#write(up + lines.map((line) => `\x1b[2K${line}\n`).join(""))
    this.#drawn = lines.length
  }

  /** On a terminal, redraws ten times a second for as long as the scope is open (and once more at its end). */
  readonly live: Effect.Effect<void, never, Scope.Scope> = Effect.suspend(() => {
    if (!this.#tty) return Effect.void
    return Effect.acquireRelease(
      Effect.sync(() => {
        this.draw()
        return setInterval(() => this.draw(), 100)
      }),
      (timer) => Effect.sync(() => {
        clearInterval(timer)
        this.draw()
      })
    ).pipe(Effect.asVoid)
  })
}
