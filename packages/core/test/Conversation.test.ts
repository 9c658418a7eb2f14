import { ContextWindow, Conversation, Messages } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Prompt } from "effect/ai"

// A generated conversation: each turn becomes one or more messages, tool
// rounds included, some of them pinned.
const Turn = Schema.Struct({
  kind: Schema.Literals(["system", "user", "assistant", "tool-round"]),
  text: Schema.String,
  n: Schema.Int,
  pinned: Schema.Boolean
})

const messagesOf = (turns: ReadonlyArray<typeof Turn.Type>): Array<Prompt.Message> =>
  turns.flatMap((turn, index): Array<Prompt.Message> => {
    switch (turn.kind) {
      case "system":
        return [Messages.system(turn.text)]
      case "user": {
        const message = Messages.user(turn.text)
        return [turn.pinned ? ContextWindow.pin(message) : message]
      }
      case "assistant":
        return [Messages.assistant(turn.text)]
      case "tool-round": {
        const id = `call_${index}`
        // JSON has no -0: the round trip is JSON's, so compare numbers JSON can hold
        const n = turn.n + 0
        return [
          Prompt.assistantMessage({
            content: [
              Prompt.textPart({ text: turn.text }),
              Prompt.toolCallPart({ id, name: "lookup", params: { q: turn.text, n }, providerExecuted: false })
            ]
          }),
          Prompt.toolMessage({
            content: [Prompt.toolResultPart({
              id,
              name: "lookup",
              isFailure: n % 2 === 0,
              result: { n, items: [turn.text] },
              providerExecuted: false
            })]
          })
        ]
      }
    }
  })

describe("Conversation", () => {
  it.effect("two fibers appending at the same time never lose a message", () =>
    Effect.gen(function*() {
      const writer = (name: string) =>
        Effect.forEach(
          Array.from({ length: 500 }, (_, i) => i),
          (i) => Conversation.append(Messages.user(`${name}-${i}`)).pipe(Effect.andThen(Effect.yieldNow)),
          { discard: true }
        )
      yield* Effect.all([writer("a"), writer("b")], { concurrency: "unbounded" })
      const texts = (yield* Conversation.messages).map((m) => (m as Prompt.UserMessage).content[0]!)
        .map((part) => (part as Prompt.TextPart).text)
      assert.strictEqual(texts.length, 1000)
      // each writer's messages are all there, in its own order
      for (const name of ["a", "b"]) {
        assert.deepStrictEqual(
          texts.filter((t) => t.startsWith(`${name}-`)),
          Array.from({ length: 500 }, (_, i) => `${name}-${i}`)
        )
      }
      // and they really interleaved
      assert.notDeepEqual(texts.slice(0, 500).every((t) => t.startsWith("a-")), true)
    }).pipe(Effect.provide(Conversation.layer())))

  it.effect("a fork starts from the history and diverges without touching the original", () =>
    Effect.gen(function*() {
      yield* Conversation.append(Messages.user("hello"))
      yield* Conversation.append(Messages.user("in the fork")).pipe(Conversation.forked)
      const original = yield* Conversation.messages
      assert.strictEqual(original.length, 1)
      const conversation = yield* Conversation.Conversation
      const fork = yield* conversation.fork({ id: "branch" })
      yield* fork.append([Messages.assistant("hi")])
      assert.strictEqual((yield* fork.messages).length, 2)
      assert.strictEqual((yield* Conversation.messages).length, 1)
      assert.strictEqual(fork.id, "branch")
    }).pipe(Effect.provide(Conversation.layer())))

  it.effect.prop(
    "export then import gives back the same conversation",
    [Schema.Array(Turn).check(Schema.isMaxLength(30))],
    ([turns]) =>
      Effect.gen(function*() {
        const messages = messagesOf(turns)
        const original = yield* Conversation.make({ id: "session-1", messages })
        const json = yield* Conversation.exportJson.pipe(Effect.provideService(Conversation.Conversation, original))
        assert.strictEqual(JSON.parse(json).version, Conversation.currentVersion)
        const imported = yield* Conversation.importJson(json)
        assert.strictEqual(imported.id, "session-1")
        assert.deepStrictEqual(yield* imported.messages, messages)
        // pinned marks survive
        assert.deepStrictEqual(
          (yield* imported.messages).map(ContextWindow.isPinned),
          messages.map(ContextWindow.isPinned)
        )
      })
  )

  it.effect("a version 1 export imports into the current version", () =>
    Effect.gen(function*() {
      const v1 = JSON.stringify({
        version: 1,
        messages: [
          { role: "system", content: "Be kind." },
          { role: "user", content: "Where is my bag?" },
          { role: "assistant", content: "On its way." }
        ]
      })
      const imported = yield* Conversation.importJson(v1)
      const messages = yield* imported.messages
      assert.deepStrictEqual(messages, [
        Messages.system("Be kind."),
        Messages.user("Where is my bag?"),
        Messages.assistant("On its way.")
      ])
      const again = JSON.parse(yield* Conversation.exportJson.pipe(Effect.provideService(Conversation.Conversation, imported)))
      assert.strictEqual(again.version, 2)
      assert.strictEqual(again.id, imported.id)
      assert.deepStrictEqual(again.messages[1], { role: "user", content: "Where is my bag?", options: {} })
    }))

  it.effect("an unknown version or broken JSON fails with ImportError", () =>
    Effect.gen(function*() {
      const future = yield* Conversation.importJson(JSON.stringify({ version: 99, messages: [] })).pipe(Effect.flip)
      assert.strictEqual(future._tag, "ImportError")
      const broken = yield* Conversation.importJson("{ nope").pipe(Effect.flip)
      assert.include(broken.message, "Not JSON")
    }))
})
