import { Conversation, ConversationStore, Messages } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { KeyValueStore } from "effect/persistence"
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { encodeRunId } from "../src/durable/internal/runStoreFile.ts"
import * as ConversationStoreSuite from "@effect-harness/testing/ConversationStoreSuite"

const build = <E>(layer: Layer.Layer<ConversationStore.ConversationStore, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, ConversationStore.ConversationStore))

// one process: both "instances" are the same store
ConversationStoreSuite.suite({
  name: "memory",
  stores: Effect.map(build(ConversationStore.layerMemory), (store) => [store, store] as const)
})

ConversationStoreSuite.suite({
  name: "KeyValueStore",
  stores: Effect.map(
    build(ConversationStore.layerKeyValueStore.pipe(Layer.provide(KeyValueStore.layerMemory))),
    (store) => [store, store] as const
  )
})

const directory = mkdtempSync(join(tmpdir(), "conversation-store-test-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

const fileStore = (dir = directory) =>
  build(ConversationStore.layerFileSystem({ directory: dir }).pipe(Layer.provide(NodeFileSystem.layer)))

// two stores on one directory: two processes, as far as the file system knows
ConversationStoreSuite.suite({ name: "files", stores: Effect.all([fileStore(), fileStore()]) })

describe("ConversationStore (files)", () => {
  const sessionDir = (id: string) => join(directory, encodeRunId(id))
  const inStore = <A, E, R>(store: ConversationStore.Service, effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, ConversationStore.ConversationStore, store)

  it.effect("keeps the two newest revisions, each a whole document of the current version", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const id = ConversationStoreSuite.freshSessionId()
      const conversation = yield* inStore(store, ConversationStore.load(id))
      for (let i = 0; i < 5; i++) {
        yield* conversation.append([Messages.user(`turn ${i}`)])
        yield* inStore(store, ConversationStore.save(conversation))
      }
      assert.deepStrictEqual(readdirSync(sessionDir(id)).sort(), ["000000000004.json", "000000000005.json"])
      const document = JSON.parse(readFileSync(join(sessionDir(id), "000000000005.json"), "utf8"))
      assert.deepInclude(document, { version: Conversation.currentVersion, id })
      assert.strictEqual(document.messages.length, 5)
    }).pipe(Effect.scoped))

  it.effect("a save that crashed before its link leaves a temporary file, and the last revision loads", () =>
    Effect.gen(function*() {
      const store = yield* fileStore()
      const id = ConversationStoreSuite.freshSessionId()
      const conversation = yield* inStore(store, ConversationStore.load(id))
      yield* conversation.append([Messages.user("kept")])
      yield* inStore(store, ConversationStore.save(conversation))
      // what a writer killed mid-write leaves behind
      writeFileSync(join(sessionDir(id), ".tmp-crashed"), `{"version":2,"id":"${id}","messages":[{"ro`)
      const loaded = yield* inStore(store, ConversationStore.load(id))
      assert.strictEqual((yield* loaded.messages).length, 1)
      yield* loaded.append([Messages.user("next")])
      assert.strictEqual(yield* inStore(store, ConversationStore.save(loaded)), 2)
    }).pipe(Effect.scoped))

  it.effect("a directory it cannot write is a ConversationStoreError with the system's reason", () =>
    Effect.gen(function*() {
      const readOnly = mkdtempSync(join(tmpdir(), "conversation-store-ro-"))
      const store = yield* fileStore(readOnly)
      const id = ConversationStoreSuite.freshSessionId()
      chmodSync(readOnly, 0o500)
      // root ignores permissions: make the session's directory a file instead
      writeFileSync(join(readOnly, encodeRunId(id)), "not a directory")
      const conversation = yield* Conversation.make({ id })
      const error = yield* Effect.flip(inStore(store, ConversationStore.save(conversation)))
      chmodSync(readOnly, 0o700)
      rmSync(readOnly, { recursive: true, force: true })
      assert.strictEqual(error._tag, "ConversationStoreError")
      assert.include(error.message, `save of session "${id}"`)
      assert.match(error.message, /ENOTDIR|not a directory/i)
    }).pipe(Effect.scoped))
})
