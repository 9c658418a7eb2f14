/**
 * The conformance suite of a `ConversationStore`: what every store (memory,
 * files, PostgreSQL, yours) must do, through the public API. `stores` gives
 * two instances over the same storage: two processes, as far as the storage
 * knows.
 *
 * It registers `@effect/vitest` tests, so it is a module of its own
 * (`@effect-harness/testing/ConversationStoreSuite`), not part of the
 * package's main entry: importing `@effect-harness/testing` does not load
 * Vitest.
 *
 * @example
 * ```ts
 * import { ConversationStore } from "@effect-harness/core"
 * import * as ConversationStoreSuite from "@effect-harness/testing/ConversationStoreSuite"
 * import { Context, Effect, Layer } from "effect"
 *
 * // in a test file: one describe block of tests for the store
 * ConversationStoreSuite.suite({
 *   name: "memory",
 *   stores: Effect.map(Layer.build(ConversationStore.layerMemory), (context) => {
 *     const store = Context.get(context, ConversationStore.ConversationStore)
 *     return [store, store] as const
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Agent, Conversation, ConversationStore, HarnessError, Messages } from "@effect-harness/core"
import * as TestModel from "./TestModel.ts"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, type Scope } from "effect"

let counter = 0

/**
 * A session id no other test (or test run, for shared stores) uses.
 *
 * @since 0.1.0
 */
export const freshSessionId = (prefix = "session") => `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`

const texts = (conversation: Conversation.Service) =>
  Effect.map(conversation.messages, (messages) =>
    messages.map((message) =>
      typeof message.content === "string"
        ? message.content
        : message.content.map((part) => (part.type === "text" ? part.text : `[${part.type}]`)).join("")
    ))

/**
 * Registers the suite's tests for the store, in a `describe` block named
 * after it.
 *
 * @since 0.1.0
 */
export const suite = <E>(options: {
  readonly name: string
  readonly stores: Effect.Effect<readonly [ConversationStore.Service, ConversationStore.Service], E, Scope.Scope>
}) =>
  describe(`ConversationStore (${options.name})`, () => {
    const inStore = <A, E2, R>(store: ConversationStore.Service, effect: Effect.Effect<A, E2, R>) =>
      Effect.provideService(effect, ConversationStore.ConversationStore, store)

    it.effect("a saved session loads again with its messages; a new one starts empty at revision 0", () =>
      Effect.gen(function*() {
        const [a, b] = yield* options.stores
        const id = freshSessionId()
        const fresh = yield* inStore(a, ConversationStore.load(id))
        assert.strictEqual(fresh.id, id)
        assert.deepStrictEqual(yield* fresh.messages, [])
        assert.strictEqual(ConversationStore.revision(fresh), 0)

        yield* fresh.append([Messages.user("My name is Ada."), Messages.assistant("Hello Ada.")])
        assert.strictEqual(yield* inStore(a, ConversationStore.save(fresh)), 1)
        yield* fresh.append([Messages.user("And my booking?")])
        assert.strictEqual(yield* inStore(a, ConversationStore.save(fresh)), 2)

        // another process
        const loaded = yield* inStore(b, ConversationStore.load(id))
        assert.strictEqual(loaded.id, id)
        assert.strictEqual(ConversationStore.revision(loaded), 2)
        assert.deepStrictEqual(yield* texts(loaded), ["My name is Ada.", "Hello Ada.", "And my booking?"])
        // and the messages round-trip whole, options (pinned marks) included
        assert.deepStrictEqual(yield* loaded.messages, yield* fresh.messages)
      }).pipe(Effect.scoped))

    it.effect("a second writer from the same revision gets ConversationConflict; nothing is lost", () =>
      Effect.gen(function*() {
        const [a, b] = yield* options.stores
        const id = freshSessionId()
        const setup = yield* inStore(a, ConversationStore.load(id))
        yield* setup.append([Messages.user("Hi")])
        yield* inStore(a, ConversationStore.save(setup))

        const first = yield* inStore(a, ConversationStore.load(id))
        const second = yield* inStore(b, ConversationStore.load(id))
        yield* first.append([Messages.user("first writer")])
        yield* second.append([Messages.user("second writer")])
        assert.strictEqual(yield* inStore(a, ConversationStore.save(first)), 2)
        const conflict = yield* Effect.flip(inStore(b, ConversationStore.save(second)))
        assert.strictEqual(conflict._tag, "ConversationConflict")
        assert.deepInclude(conflict, { sessionId: id, expected: 1, actual: 2 })
        assert.include(conflict.message, "nothing was written")

        // the store has the first writer's turn, the loser still holds its own
        assert.deepStrictEqual(yield* texts(yield* inStore(b, ConversationStore.load(id))), ["Hi", "first writer"])
        assert.deepStrictEqual(yield* texts(second), ["Hi", "second writer"])
        // a new session saved twice from nothing: the second is a conflict too
        const other = freshSessionId()
        const one = yield* Conversation.make({ id: other })
        const two = yield* Conversation.make({ id: other })
        yield* inStore(a, ConversationStore.save(one))
        const again = yield* Effect.flip(inStore(b, ConversationStore.save(two)))
        assert.deepInclude(again, { _tag: "ConversationConflict", expected: 0, actual: 1 })
      }).pipe(Effect.scoped))

    it.effect("of many concurrent writers from one revision exactly one wins", () =>
      Effect.gen(function*() {
        const [a, b] = yield* options.stores
        const id = freshSessionId()
        const writers = yield* Effect.forEach(Array.from({ length: 12 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const store = i % 2 === 0 ? a : b
            const conversation = yield* inStore(store, ConversationStore.load(id))
            yield* conversation.append([Messages.user(`writer ${i}`)])
            return { i, store, conversation }
          }))
        const exits = yield* Effect.forEach(
          writers,
          ({ conversation, store }) => Effect.exit(inStore(store, ConversationStore.save(conversation))),
          { concurrency: "unbounded" }
        )
        const won = exits.flatMap((exit, i) => (Exit.isSuccess(exit) ? [i] : []))
        assert.strictEqual(won.length, 1)
        for (const exit of exits) {
          if (Exit.isFailure(exit)) assert.include(JSON.stringify(exit.cause), "ConversationConflict")
        }
        assert.deepStrictEqual(yield* texts(yield* inStore(a, ConversationStore.load(id))), [`writer ${won[0]}`])
      }).pipe(Effect.scoped))

    it.effect("a document saved in version 1 of the export format loads migrated", () =>
      Effect.gen(function*() {
        const [a] = yield* options.stores
        const id = freshSessionId()
        const v1 = { version: 1, messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }] }
        assert.strictEqual(yield* a.save(id, JSON.stringify(v1), 0), 1)
        const loaded = yield* inStore(a, ConversationStore.load(id))
        assert.deepStrictEqual(yield* texts(loaded), ["Hi", "Hello!"])
        // saved back in the current version, from revision 1
        assert.strictEqual(yield* inStore(a, ConversationStore.save(loaded)), 2)
        const saved = yield* a.load(id)
        assert.strictEqual(JSON.parse(saved!.json).version, Conversation.currentVersion)

        const unknown = freshSessionId()
        yield* a.save(unknown, JSON.stringify({ version: 99, messages: [] }), 0)
        const error = yield* Effect.flip(inStore(a, ConversationStore.load(unknown)))
        assert.strictEqual(error._tag, "ImportError")
      }).pipe(Effect.scoped))

    it.effect("withSession loads, runs an agent in the session and saves it; a failed run saves nothing", () =>
      Effect.gen(function*() {
        const [a, b] = yield* options.stores
        const id = freshSessionId()
        const agent = Agent.make({ name: "concierge" })
        const answers = TestModel.layer([TestModel.text("Hello Ada."), TestModel.text("Your name is Ada.")])
        yield* Effect.gen(function*() {
          assert.strictEqual(yield* Agent.run(agent, "My name is Ada.").pipe(ConversationStore.withSession(id)), "Hello Ada.")
          // the next turn may run in another process
          const second = yield* Agent.run(agent, "What is my name?").pipe(
            ConversationStore.withSession(id),
            Effect.provideService(ConversationStore.ConversationStore, b)
          )
          assert.strictEqual(second, "Your name is Ada.")
          const [, request] = yield* TestModel.requests
          assert.deepStrictEqual(request!.prompt.content.map((m) => m.role), ["user", "assistant", "user"])
        }).pipe(Effect.provide(Layer.merge(answers, Layer.succeed(ConversationStore.ConversationStore, a))))

        const failing = yield* Effect.flip(
          Agent.run(agent, "Hello?").pipe(
            ConversationStore.withSession(id),
            Effect.provide(TestModel.layer([TestModel.fail(new HarnessError.InvalidRequest({ message: "synthetic: bad request" }))])),
            Effect.provideService(ConversationStore.ConversationStore, a)
          )
        )
        assert.strictEqual(failing._tag, "InvalidRequest")
        const after = yield* inStore(a, ConversationStore.load(id))
        assert.strictEqual(ConversationStore.revision(after), 2)
        assert.deepStrictEqual(yield* texts(after), ["My name is Ada.", "Hello Ada.", "What is my name?", "Your name is Ada."])
      }).pipe(Effect.scoped))

    it.effect("session ids: any well-formed text up to 200 characters; others are a typed error", () =>
      Effect.gen(function*() {
        const [a] = yield* options.stores
        for (const id of [`../etc/passwd ${freshSessionId()}`, `café 😀 /\\:*?"<>| ${freshSessionId()}`, "é".repeat(200), `${"é".repeat(199)}a`]) {
          yield* a.delete(id)
          const conversation = yield* Conversation.make({ id, messages: [Messages.user(id)] })
          assert.strictEqual(yield* inStore(a, ConversationStore.save(conversation)), 1)
          assert.deepStrictEqual(yield* texts(yield* inStore(a, ConversationStore.load(id))), [id])
          yield* a.delete(id)
          assert.isUndefined(yield* a.load(id))
        }
        for (const [id, detail] of [["", "empty"], ["😀".slice(0, 1), "lone UTF-16 surrogate"], ["x".repeat(201), "at most 200"]] as const) {
          const error = yield* Effect.flip(inStore(a, ConversationStore.load(id)))
          assert.strictEqual(error._tag, "ConversationStoreError")
          assert.include(error.message, detail)
          const saveError = yield* Effect.flip(a.save(id, "{}", 0))
          assert.strictEqual(saveError._tag, "ConversationStoreError")
        }
      }).pipe(Effect.scoped))
  })
