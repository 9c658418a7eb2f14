/**
 * `npm run telemetry`: one question through the desk of desk.ts, its spans
 * printed by OpenTelemetry's console exporter. Without OPENAI_API_KEY the
 * model is scripted (FakeOpenAiServer through the real openai SDK).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ConsoleSpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Option } from "effect"
import * as Model from "../shared/model.ts"
import * as Kit from "../shared/scriptKit.ts"
import { answer, OrderHandlers, tracing } from "./desk.ts"

const script: Model.Script = (request) => {
  const read = Kit.read(request)
  if (Option.isNone(read)) return Kit.unreadable()
  const conversation = read.value
  const first = Kit.textOf(conversation.messages.find((m) => m.role === "user"))
  if (first.startsWith("Classify:")) return Kit.text(conversation, JSON.stringify({ topic: "order" }), "classify")
  return conversation.turns.length === 0
    ? Kit.toolCalls(conversation, [{ name: "lookup_order", arguments: { id: "A-1" } }], "desk")
    : Kit.text(conversation, "Order A-1 has shipped.", "desk")
}

const program = answer("Where is order A-1?").pipe(
  Effect.tap((result) => Effect.log(result)),
  Effect.provide(Layer.mergeAll(tracing(new ConsoleSpanExporter()), OrderHandlers, Model.layer({ script, command: "npm run telemetry" })))
)

NodeRuntime.runMain(program)
