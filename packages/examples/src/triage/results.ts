/**
 * The results of a batch: `<out>/results.json` (every ticket's triage, with
 * what it cost) and one Markdown draft per ticket in `<out>/drafts`. The file
 * is rewritten, whole, each time a ticket finishes, so that what is done is
 * on disk even if the batch stops half-way (`complete` says whether it did).
 * A draft is written once: a resumed batch finds it on disk, unchanged, and
 * leaves it alone.
 *
 * `npm start` and `npm run triage:submit` both end with {@link report}: the
 * same summary table, whoever ran the tickets.
 */
import { Effect, FileSystem, Path, Semaphore } from "effect"
import { fileURLToPath } from "node:url"
import { ExampleError, oneLine, say } from "../shared/cli.ts"
import type { Ticket } from "../shared/data.ts"
import * as Format from "../shared/format.ts"
import type { Row } from "./progress.ts"
import type { Outcome } from "./run.ts"
import { writeAtomic } from "./run.ts"

/** Where the results go without `--out`: `packages/examples/out/triage`. */
export const defaultOutDir = fileURLToPath(new URL("../../out/triage", import.meta.url))

export interface Results {
  readonly file: string
  /** The drafts' folder. */
  readonly drafts: string
  readonly record: (outcome: Outcome) => Effect.Effect<void, ExampleError>
  readonly complete: Effect.Effect<void, ExampleError>
  readonly outcomes: () => ReadonlyArray<Outcome>
}

export const make = Effect.fn("results.make")(function*(options: {
  readonly outDir: string
  readonly runId: string
  /** The model that triaged the tickets (asked each time the file is written: workers report it as they go). */
  readonly model: () => { readonly provider: string; readonly model: string } | undefined
  readonly tickets: ReadonlyArray<Ticket>
  readonly rows: ReadonlyArray<Row>
}) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const drafts = path.join(options.outDir, "drafts")
  yield* fs.makeDirectory(drafts, { recursive: true }).pipe(
    Effect.mapError((error) =>
      new ExampleError({ message: `Cannot create the output folder ${drafts}: ${oneLine(error.message, 160)}; check --out` })
    )
  )
  const file = path.join(options.outDir, "results.json")
  const outcomes = new Map<string, Outcome>()
  const lock = Semaphore.makeUnsafe(1)
  const order = options.tickets.map((ticket) => ticket.id)
  const rows = new Map(options.rows.map((row) => [row.id, row]))

  const write = (complete: boolean) =>
    lock.withPermit(Effect.suspend(() => {
      const tickets = order.flatMap((id) => {
        const outcome = outcomes.get(id)
        const row = rows.get(id)!
        if (outcome === undefined) return []
        const usage = {
          steps: row.step,
          toolCalls: row.toolCalls,
          inputTokens: row.inputTokens,
          outputTokens: row.outputTokens,
          cost: row.cost ?? null,
          retries: row.retries,
          repairs: row.repairs
        }
        return [outcome._tag === "Done"
          ? { id, status: "done", triage: outcome.triage, usage }
          : { id, status: "failed", error: outcome.error, usage }]
      })
      const model = options.model()
      const document = {
        runId: options.runId,
        model: model === undefined ? null : { provider: model.provider, model: model.model },
        complete,
        updatedAt: new Date().toISOString(),
        tickets
      }
      return writeAtomic(fs, file, `${JSON.stringify(document, null, 2)}\n`)
    }))

  const record = (outcome: Outcome) =>
    Effect.gen(function*() {
      outcomes.set(outcome.ticket.id, outcome)
      if (outcome._tag === "Done") {
        const file = path.join(drafts, `${outcome.ticket.id}.md`)
        const text = draftMarkdown(outcome)
        const existing = yield* fs.readFileString(file).pipe(Effect.orElseSucceed(() => undefined))
        if (existing !== text) yield* writeAtomic(fs, file, text)
      }
      yield* write(false)
    })

  return {
    file,
    drafts,
    record,
    complete: write(true),
    outcomes: () => order.flatMap((id) => outcomes.get(id) ?? [])
  } satisfies Results
})

const draftMarkdown = (outcome: Extract<Outcome, { _tag: "Done" }>) => {
  const { ticket, triage } = outcome
  return [
    `# ${ticket.id}: ${ticket.subject}`,
    "",
    `- From: ${ticket.from}`,
    `- Category: ${triage.category}, priority: ${triage.priority}${triage.needsHuman ? ", needs a person" : ""}`,
    `- Articles: ${triage.articles.join(", ") || "none"}`,
    `- Summary: ${triage.summary}`,
    "",
    "## Draft reply",
    "",
    triage.reply,
    ""
  ].join("\n")
}

/** The table printed at the end. */
export const summary = (rows: ReadonlyArray<Row>, outcomes: ReadonlyArray<Outcome>): Array<string> => {
  const byId = new Map(outcomes.map((outcome) => [outcome.ticket.id, outcome]))
  const body = rows.map((row) => {
    const outcome = byId.get(row.id)
    const triage = outcome?._tag === "Done" ? outcome.triage : undefined
    return [
      row.id,
      outcome === undefined ? "not done" : outcome._tag === "Done" ? (row.live === 0 ? "replayed" : "done") : "FAILED",
      triage?.category ?? "",
      triage?.priority ?? "",
      triage === undefined ? Format.cut(outcome?._tag === "Failed" ? outcome.error : "", 40) : triage.articles.join(", "),
      String(row.step),
      Format.count(row.inputTokens + row.outputTokens),
      Format.cost(row.cost),
      String(row.retries),
      String(row.repairs)
    ]
  })
  const sum = (f: (row: Row) => number) => rows.reduce((total, row) => total + f(row), 0)
  const known = rows.every((row) => row.cost !== undefined)
  const totals = [
    "total",
    `${outcomes.filter((o) => o._tag === "Done").length}/${rows.length}`,
    "",
    "",
    "",
    String(sum((row) => row.step)),
    Format.count(sum((row) => row.inputTokens + row.outputTokens)),
    Format.cost(known ? sum((row) => row.cost ?? 0) : undefined),
    String(sum((row) => row.retries)),
    String(sum((row) => row.repairs))
  ]
  const header = ["ticket", "status", "category", "priority", "articles", "steps", "tokens", "cost", "retries", "repairs"]
  const lines = Format.table(header, [...body, totals], [5, 6, 7, 8, 9])
  // a rule above the totals
  lines.splice(lines.length - 1, 0, lines[1]!)
  return lines
}

/**
 * The end of a batch: the results file marked complete, the summary table,
 * where the results are; the tickets that could not be triaged fail it with
 * an `ExampleError` that ends with `again` (what to do about them).
 */
export const report = Effect.fn("results.report")(function*(options: {
  readonly results: Results
  readonly rows: ReadonlyArray<Row>
  readonly outcomes: ReadonlyArray<Outcome>
  readonly again: string
}) {
  const { outcomes, results } = options
  yield* results.complete
  yield* say()
  for (const line of summary(options.rows, outcomes)) yield* say(line)
  yield* say()
  yield* say(`Results: ${results.file} (drafts in ${results.drafts})`)
  const failed = outcomes.filter((outcome) => outcome._tag === "Failed")
  if (failed.length > 0) {
    return yield* new ExampleError({
      message: `${Format.plural(failed.length, "ticket")} could not be triaged ` +
        `(${failed.map((o) => o.ticket.id).join(", ")}); ${options.again}`
    })
  }
})
