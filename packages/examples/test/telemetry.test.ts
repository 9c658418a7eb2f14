/**
 * The telemetry example's spans, exported through @effect/opentelemetry into
 * an InMemorySpanExporter, from a run of the real OpenAI provider (real openai
 * SDK over HTTP) against FakeOpenAiServer: the attributes a GenAI dashboard
 * groups and sums by, on the Harness.prompt span as on the agent's spans.
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { answer, OrderHandlers, tracing } from "../src/telemetry/desk.ts"

const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini", api: "chat" }).pipe(
  Layer.provideMerge(Layer.unwrap(Effect.map(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) =>
    OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url })))),
  Layer.provideMerge(FakeOpenAiServer.layer())
)

describe("telemetry example", () => {
  it.live("spans through @effect/opentelemetry carry the GenAI attributes, usage and cost of every call", () => {
    const exporter = new InMemorySpanExporter()
    return Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      const answered = "gpt-4o-mini-2024-07-18"
      yield* server.enqueue(
        FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ topic: "order" }), usage: { input: 40, output: 6 }, model: answered }),
        FakeOpenAiServer.chatCompletion({
          toolCalls: [{ id: "call_A1", name: "lookup_order", arguments: { id: "A-1" } }],
          usage: { input: 120, output: 15 },
          model: answered
        }),
        FakeOpenAiServer.chatCompletion({ text: "Order A-1 has shipped.", usage: { input: 160, output: 8 }, model: answered })
      )
      const result = yield* answer("Where is order A-1?").pipe(Effect.provide(OrderHandlers))
      assert.deepStrictEqual(result, { topic: "order", reply: "Order A-1 has shipped." })

      const spans = exporter.getFinishedSpans()
      const byName = (name: string) => spans.filter((span) => span.name === name).map((span) => span.attributes)
      const [prompt] = byName("Harness.prompt classify")
      assert.deepInclude(prompt, {
        "gen_ai.operation.name": "generate_object",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": answered,
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 6
      })
      assert.isAbove(prompt!["harness.cost_usd"] as number, 0)

      const [agent] = byName("invoke_agent desk")
      assert.deepInclude(agent, {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "desk",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini"
      })
      const chats = byName("chat gpt-4o-mini")
      assert.strictEqual(chats.length, 2)
      assert.deepStrictEqual(chats.map((chat) => [chat["gen_ai.usage.input_tokens"], chat["gen_ai.usage.output_tokens"]]), [[120, 15], [160, 8]])
      for (const chat of chats) {
        assert.deepInclude(chat, {
          "gen_ai.operation.name": "chat",
          "gen_ai.agent.name": "desk",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o-mini",
          "gen_ai.response.model": answered
        })
        assert.isAbove(chat["harness.cost_usd"] as number, 0)
      }
      const [tool] = byName("execute_tool lookup_order")
      assert.deepInclude(tool, {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_order",
        "gen_ai.tool.call.id": "call_A1"
      })
      // read before the layer closes: shutting the tracer provider down clears the in-memory exporter
    }).pipe(Effect.provide(Layer.merge(model, tracing(exporter))))
  })
})
