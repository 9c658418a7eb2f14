/**
 * Reads and validates the flagship's results file.
 */
import { Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { triageSchema } from "../../src/triage/agent.ts"
import { bundledData } from "./spawn.ts"

export const articleIds = readdirSync(join(bundledData, "kb")).map((name) => name.replace(/\.md$/, ""))
export const ticketIds = readdirSync(join(bundledData, "tickets")).map((name) => name.replace(/\.json$/, "")).sort()

const Results = Schema.Struct({
  runId: Schema.String,
  complete: Schema.Boolean,
  tickets: Schema.Array(Schema.Struct({
    id: Schema.String,
    status: Schema.Literal("done"),
    triage: triageSchema(articleIds),
    usage: Schema.Struct({ steps: Schema.Number, inputTokens: Schema.Number, retries: Schema.Number, repairs: Schema.Number })
  }))
})

export const readResults = (out: string) =>
  Schema.decodeUnknownSync(Results)(JSON.parse(readFileSync(join(out, "results.json"), "utf8")))
