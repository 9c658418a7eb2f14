// The harness under test: production provides a real model, the test TestModel.
import { Harness } from "@effect-harness/core"
import { Schema } from "effect"

export const Ticket = Schema.Struct({ category: Schema.Literals(["billing", "bug", "other"]), urgent: Schema.Boolean })

export const triage = Harness.prompt({
  name: "triage",
  output: Ticket,
  render: (text: string) => `Classify this support ticket: ${text}`
}).pipe(Harness.retry())
