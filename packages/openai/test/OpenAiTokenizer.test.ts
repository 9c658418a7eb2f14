import { Budget, ContextWindow, Messages } from "@effect-harness/core"
import { OpenAiModels, OpenAiTokenizer } from "@effect-harness/openai"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Prompt, Tokenizer } from "effect/ai"
import { encode as encodeCl100k } from "gpt-tokenizer/encoding/cl100k_base"
import { encode as encodeO200k } from "gpt-tokenizer/encoding/o200k_base"
import * as catalog from "gpt-tokenizer/models"

const tokenize = (model: string, input: Prompt.RawInput) =>
  Effect.flatMap(Effect.service(Tokenizer.Tokenizer), (tokenizer) => tokenizer.tokenize(input)).pipe(
    Effect.map((tokens) => tokens.length),
    Effect.provide(OpenAiTokenizer.layer(model))
  )

describe("OpenAiTokenizer", () => {
  it.effect("counts a message as OpenAI's chat format does: content tokens plus four of framing", () =>
    Effect.gen(function*() {
      const text = "Hello, world! Où est ma valise ? 行李在哪里？"
      assert.strictEqual(yield* tokenize("gpt-4o", text), encodeO200k(text).length + 4)
      // gpt-4 uses the older encoding, which splits this text differently
      assert.strictEqual(yield* tokenize("gpt-4", text), encodeCl100k(text).length + 4)
      assert.notStrictEqual(encodeO200k(text).length, encodeCl100k(text).length)
    }))

  it.effect("a prompt counts as the sum of its messages (what ContextWindow caches)", () =>
    Effect.gen(function*() {
      const messages = [
        Messages.system("You are an airline agent."),
        Messages.user("Cancel reservation ZFA04Y please."),
        Prompt.assistantMessage({
          content: [Prompt.toolCallPart({ id: "c1", name: "cancel_reservation", params: { reservation_id: "ZFA04Y" }, providerExecuted: false })]
        }),
        Prompt.toolMessage({
          content: [Prompt.toolResultPart({ id: "c1", name: "cancel_reservation", isFailure: false, result: { status: "cancelled" }, providerExecuted: false })]
        })
      ]
      let sum = 0
      for (const message of messages) sum += yield* tokenize("gpt-4o-mini", Prompt.fromMessages([message]))
      assert.strictEqual(yield* tokenize("gpt-4o-mini", Prompt.fromMessages(messages)), sum)
      assert.isAbove(sum, 30)
    }))

  it.effect("sizes a ContextWindow from the model table", () =>
    Effect.gen(function*() {
      const window = yield* Effect.service(ContextWindow.ContextWindow).pipe(
        Effect.provide(OpenAiTokenizer.layerContextWindow("gpt-4o-2024-11-20"))
      )
      assert.strictEqual(window.maxTokens, 128_000)
      assert.strictEqual(window.reserve, 4_096)
      const unknown = yield* Effect.service(ContextWindow.ContextWindow).pipe(
        Effect.provide(OpenAiTokenizer.layerContextWindow("my-fine-tune")),
        Effect.exit
      )
      assert.isTrue(Exit.hasDies(unknown))
      const explicit = yield* Effect.service(ContextWindow.ContextWindow).pipe(
        Effect.provide(OpenAiTokenizer.layerContextWindow("my-fine-tune", { maxTokens: 32_000, reserve: 1_000 }))
      )
      assert.strictEqual(explicit.maxTokens, 32_000)
    }))
})

describe("OpenAiModels", () => {
  it("resolves dated snapshots, and knows nothing of unknown models (no price, not zero)", () => {
    assert.strictEqual(OpenAiModels.contextWindow("gpt-4o-mini-2024-07-18"), 128_000)
    assert.deepStrictEqual(OpenAiModels.pricing("gpt-4o-2024-08-06"), { input: 2.5, output: 10, cachedInput: 1.25 })
    // this snapshot has a price of its own
    assert.deepStrictEqual(OpenAiModels.pricing("gpt-4o-2024-05-13"), { input: 5, output: 15 })
    assert.isUndefined(OpenAiModels.get("ft:gpt-4o-mini:acme::abc123"))
    assert.isUndefined(OpenAiModels.pricing("llama-3-70b"))
    assert.strictEqual(OpenAiModels.encoding("gpt-3.5-turbo-0125"), "cl100k_base")
    assert.strictEqual(OpenAiModels.encoding("gpt-4.1-mini"), "o200k_base")
  })

  it("agrees with gpt-tokenizer's catalog on every context window and answer size", () => {
    for (const [name, info] of Object.entries(OpenAiModels.models)) {
      const spec = (catalog as unknown as Record<string, { context_window?: number; max_output_tokens?: number }>)[name]
      assert.isDefined(spec, name)
      assert.strictEqual(info.contextWindow, spec!.context_window, `${name} context window`)
      assert.strictEqual(info.maxOutputTokens, spec!.max_output_tokens, `${name} max output`)
    }
  })

  it.effect("prices a run through Budget: 1M input and 100k output tokens of gpt-4o cost $3.50", () =>
    Effect.gen(function*() {
      const budget = yield* Budget.make({ pricing: OpenAiModels.pricing })
      yield* budget.record({ inputTokens: 1_000_000, outputTokens: 100_000 }, "gpt-4o", { step: true })
      assert.closeTo((yield* budget.usage).cost!, 3.5, 1e-9)
      yield* budget.record({ inputTokens: 10, outputTokens: 10 }, "mystery", { step: true })
      assert.isUndefined((yield* budget.usage).cost)
    }))
})
