/**
 * Telemetry: an agent and a `Harness.prompt` whose spans go to OpenTelemetry
 * through `@effect/opentelemetry`. Every span carries OpenTelemetry's GenAI
 * attributes (operation, provider, requested and answering model, tokens,
 * agent and tool names, tool call ids) and the cost when a `Budget` prices
 * the model: what a dashboard groups and sums by.
 */
import { Agent, Budget, Harness, type HarnessError } from "@effect-harness/core"
import { OpenAiModels } from "@effect-harness/openai"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"

/** Spans exported as they end (use a `BatchSpanProcessor` and an OTLP exporter in production). */
export const tracing = (exporter: SpanExporter) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: "support-desk" },
    spanProcessor: new SimpleSpanProcessor(exporter)
  }))

const LookupOrder = Tool.make("lookup_order", {
  description: "The status of an order",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ id: Schema.String, status: Schema.String })
})

export const Orders = Toolkit.make(LookupOrder)

export const OrderHandlers = Orders.toLayer({
  lookup_order: ({ id }) => Effect.succeed({ id, status: "shipped" })
})

// no modelLabel: the spans name the provider's model (OpenAiLanguageModel's `model`)
export const desk = Agent.make({ name: "desk", instructions: "Answer about orders.", toolkit: Orders })

const classify = Harness.prompt({
  name: "classify",
  output: Schema.Struct({ topic: Schema.Literals(["order", "billing", "other"]) }),
  render: (question: string) => `Classify: ${question}`
})

/** One question: classified, then answered by the agent, priced with OpenAI's prices. */
export const answer = (question: string): Effect.Effect<
  { readonly topic: string; readonly reply: string },
  HarnessError.HarnessError | Agent.AgentError,
  Agent.ToolkitServices<typeof Orders>
> =>
  Effect.gen(function*() {
    const { topic } = yield* Harness.run(classify, question)
    const reply = yield* Agent.run(desk, question)
    return { topic, reply }
  }).pipe(Budget.provide({ pricing: OpenAiModels.pricing }))
