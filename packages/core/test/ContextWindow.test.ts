import { Agent, AgentEvent, ContextWindow, Conversation, Harness, HarnessError, Messages } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { Prompt, Tokenizer } from "effect/ai"

// One token per word, plus one per message; counts how often it is asked.
const counting = () => {
  const stats = { calls: 0 }
  const tokenizer = Tokenizer.make({
    tokenize: (prompt) =>
      Effect.sync(() => {
        stats.calls++
        let n = 0
        for (const message of prompt.content) {
          n += 1
          const parts = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content
          for (const part of parts as ReadonlyArray<any>) {
            const text = part.type === "text"
              ? part.text
              : part.type === "tool-call"
              ? JSON.stringify(part.params)
              : part.type === "tool-result"
              ? JSON.stringify(part.result)
              : ""
            n += text.split(/\s+/).filter((w: string) => w.length > 0).length
          }
        }
        return new Array<number>(n).fill(0)
      })
  })
  return { stats, layer: Layer.succeed(Tokenizer.Tokenizer, tokenizer) }
}

const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ")

const toolRound = (id: string, results: number): Array<Prompt.Message> => [
  Prompt.assistantMessage({
    content: Array.from({ length: results }, (_, i) =>
      Prompt.toolCallPart({ id: `${id}-${i}`, name: "lookup", params: { q: words(3, id) }, providerExecuted: false }))
  }),
  Prompt.toolMessage({
    content: Array.from({ length: results }, (_, i) =>
      Prompt.toolResultPart({
        id: `${id}-${i}`,
        name: "lookup",
        isFailure: false,
        result: words(4, "r"),
        providerExecuted: false
      }))
  })
]

const Turn = Schema.Struct({
  kind: Schema.Literals(["user", "assistant", "tools", "pinned"]),
  size: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 })),
  results: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 }))
})

const historyOf = (turns: ReadonlyArray<typeof Turn.Type>): Array<Prompt.Message> =>
  turns.flatMap((turn, i): Array<Prompt.Message> => {
    switch (turn.kind) {
      case "user":
        return [Messages.user(words(turn.size, "u"))]
      case "pinned":
        return [ContextWindow.pin(Messages.user(words(turn.size, "p")))]
      case "assistant":
        return [Messages.assistant(words(turn.size, "a"))]
      case "tools":
        return toolRound(`t${i}`, turn.results)
    }
  })

const callIds = (messages: ReadonlyArray<Prompt.Message>) =>
  messages.flatMap((m) => m.role === "assistant" ? m.content.flatMap((p) => p.type === "tool-call" ? [p.id] : []) : [])

const resultIds = (messages: ReadonlyArray<Prompt.Message>) =>
  messages.flatMap((m) => m.role === "tool" ? m.content.flatMap((p) => p.type === "tool-result" ? [p.id] : []) : [])

describe("ContextWindow truncate", () => {
  it.effect.prop(
    "never orphans a tool result nor a tool call; keeps system, pinned and the newest message",
    [Schema.Array(Turn).check(Schema.isMinLength(1), Schema.isMaxLength(40)), Schema.Int.check(Schema.isBetween({ minimum: 10, maximum: 200 }))],
    ([turns, maxTokens]) =>
      Effect.gen(function*() {
        const window = yield* ContextWindow.make({ maxTokens })
        const history = historyOf(turns)
        const system = Messages.system("rules")
        const prepared = yield* window.prepare({}, { fixed: [system], history })
        const sent = prepared.messages
        assert.strictEqual(sent[0], system)
        // every result sent has its call sent before it, and every call sent has all its results
        assert.deepStrictEqual(resultIds(sent).sort(), callIds(sent).sort())
        for (const pinned of history.filter(ContextWindow.isPinned)) assert.include(sent, pinned)
        assert.strictEqual(sent.at(-1), history.at(-1))
        // it fits, unless the newest turn alone is too large
        const newestTurn = history.at(-1)!.role === "tool" ? 2 : 1
        if (sent.length - 1 - history.filter(ContextWindow.isPinned).length > newestTurn) {
          assert.isAtMost(prepared.tokens, maxTokens)
        }
      }).pipe(Effect.provide(counting().layer))
  )

  it.effect("an agent sends only what fits, drops old turns whole, and says so in its events", () =>
    Effect.gen(function*() {
      const old = Array.from({ length: 30 }, (_, i) => i % 3 === 2 ? toolRound(`old${i}`, 2) : [Messages.user(words(10, "old"))])
        .flat()
      yield* Conversation.append(ContextWindow.pin(Messages.user("my booking is ZFA04Y")), ...old)
      const agent = Agent.make({ name: "short-memory", instructions: "be brief" })
      const events = yield* Stream.runCollect(Agent.stream(agent, "what is my booking?"))
      const [request] = yield* TestModel.requests
      const sent = request!.prompt.content
      assert.strictEqual(sent[0]!.role, "system")
      assert.strictEqual((sent[1] as Prompt.UserMessage).content[0]!.type, "text")
      assert.include(JSON.stringify(sent[1]), "ZFA04Y")
      assert.include(JSON.stringify(sent.at(-1)), "what is my booking?")
      assert.isBelow(sent.length, old.length)
      assert.deepStrictEqual(resultIds(sent).sort(), callIds(sent).sort())
      const trimmed = Array.from(events).find(AgentEvent.$is("ContextTrimmed"))
      assert.strictEqual(trimmed?.strategy, "truncate")
      assert.isAtMost(trimmed!.tokensAfter, 150 - 20)
      // the conversation itself is untouched
      assert.strictEqual((yield* Conversation.messages).length, old.length + 3)
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text("ZFA04Y")]),
      Conversation.layer(),
      ContextWindow.layer({ maxTokens: 150, reserve: 20 }).pipe(Layer.provide(counting().layer))
    ))))
})

describe("ContextWindow compact", () => {
  const summaries: Array<ContextWindow.CompactInput> = []
  const summarize = Harness.make("summarize", (input: ContextWindow.CompactInput) =>
    Effect.sync(() => {
      summaries.push(input)
      return `summary ${summaries.length} of ${input.messages.length} messages`
    }))

  const windowLayer = (maxTokens: number, tokenizer = counting()) =>
    ContextWindow.layer({ maxTokens, reserve: 10, strategy: ContextWindow.compact(summarize, { target: 0.5 }) }).pipe(
      Layer.provide(tokenizer.layer)
    )

  it.effect("replaces the oldest turns with a summary, incrementally; the next request fits the window", () =>
    Effect.gen(function*() {
      summaries.length = 0
      const turns = Array.from({ length: 20 }, (_, i) => [Messages.user(words(8, `q${i}-`)), Messages.assistant(words(8, `a${i}-`))])
        .flat()
      yield* Conversation.append(...turns)
      const agent = Agent.make({ name: "long", instructions: "be helpful" })
      yield* Agent.run(agent, "first")
      assert.strictEqual(summaries.length, 1)
      assert.isUndefined(summaries[0]!.previous)
      let history = yield* Conversation.messages
      assert.isTrue(ContextWindow.isSummary(history[0]!))
      assert.isBelow(history.length, turns.length)
      const [request] = yield* TestModel.requests
      assert.strictEqual(request!.prompt.content[0]!.role, "system")
      assert.include(JSON.stringify(request!.prompt.content[1]), "summary 1")
      const window = yield* ContextWindow.ContextWindow
      let tokens = 0
      for (const message of request!.prompt.content) tokens += yield* window.count(message)
      assert.isAtMost(tokens, 200 - 10)

      // more turns: the next compaction folds the previous summary and only the new turns
      yield* Conversation.append(...turns.slice(0, 16))
      yield* Agent.run(agent, "second")
      assert.strictEqual(summaries.length, 2)
      assert.strictEqual(summaries[1]!.previous, "summary 1 of " + summaries[0]!.messages.length + " messages")
      assert.isFalse(summaries[1]!.messages.some(ContextWindow.isSummary))
      history = yield* Conversation.messages
      assert.strictEqual(history.filter(ContextWindow.isSummary).length, 1)
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.text("ok"), TestModel.text("ok again")]),
      Conversation.layer(),
      windowLayer(200)
    ))))

  it.effect("ContextOverflow from the provider triggers one compaction and one retry", () =>
    Effect.gen(function*() {
      summaries.length = 0
      yield* Conversation.append(...Array.from({ length: 10 }, (_, i) => Messages.user(words(5, `m${i}-`))))
      const agent = Agent.make({ name: "overflowing" })
      const answer = yield* Agent.run(agent, "hi")
      assert.strictEqual(answer, "fits now")
      assert.strictEqual(summaries.length, 1)
      const [first, second] = yield* TestModel.requests
      assert.isBelow(second!.prompt.content.length, first!.prompt.content.length)
      assert.isTrue(ContextWindow.isSummary(second!.prompt.content[0]!))
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([TestModel.fail(new HarnessError.ContextOverflow({ message: "too long" })), TestModel.text("fits now")]),
      Conversation.layer(),
      windowLayer(10_000)
    ))))

  it.effect("a second ContextOverflow ends the run with RetriesExhausted { attempts: 2 }", () =>
    Effect.gen(function*() {
      yield* Conversation.append(...Array.from({ length: 10 }, (_, i) => Messages.user(words(5, `m${i}-`))))
      const error = yield* Agent.run(Agent.make({ name: "overflowing" }), "hi").pipe(Effect.flip)
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.attempts, 2)
      assert.strictEqual(error.last._tag, "ContextOverflow")
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(Layer.mergeAll(
      TestModel.layer([
        TestModel.fail(new HarnessError.ContextOverflow({ message: "too long" })),
        TestModel.fail(new HarnessError.ContextOverflow({ message: "still too long" }))
      ]),
      Conversation.layer(),
      windowLayer(10_000)
    ))))

  it.effect("without a context window, a ContextOverflow is not retried and ends the run as what it is", () =>
    Effect.gen(function*() {
      const error = yield* Agent.run(Agent.make({ name: "no-window" }), "hi").pipe(Effect.flip)
      assert.strictEqual(error._tag, "ContextOverflow")
      assert.strictEqual(error.message, `too long (harness "no-window", attempt 1)`)
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([TestModel.fail(new HarnessError.ContextOverflow({ message: "too long" }))]))))
})

describe("ContextWindow counting", () => {
  it.effect("is incremental: each step tokenizes only the new messages, whatever the history length", () =>
    Effect.gen(function*() {
      const tokenizer = counting()
      const window = yield* ContextWindow.make({ maxTokens: 2_000 }).pipe(Effect.provide(tokenizer.layer))
      const history: Array<Prompt.Message> = []
      for (let i = 0; i < 1000; i++) history.push(Messages.user(words(3, `h${i}-`)))
      const owner = {}
      const system = Messages.system("rules")
      yield* window.prepare(owner, { fixed: [system], history })
      assert.strictEqual(tokenizer.stats.calls, 1001)
      for (let step = 0; step < 50; step++) {
        history.push(Messages.assistant(words(5, "a")), Messages.user(words(5, "u")))
        const before = tokenizer.stats.calls
        const prepared = yield* window.prepare(owner, { fixed: [system], history })
        assert.strictEqual(tokenizer.stats.calls - before, 2)
        assert.isAtMost(prepared.tokens, 2_000)
      }
    }))
})
