/**
 * Where conversations persist: a store of conversation documents keyed by
 * session id, so that a session survives a restart and is shared by the
 * processes that serve it.
 *
 * A store keeps, per session, the latest saved document (the versioned
 * export of `Conversation`, see `Conversation.Document`) and its revision, a
 * number that grows by one with every save. Loading migrates a document of
 * any known version to the current one. A save names the revision it started
 * from and succeeds only if that is still the latest (optimistic
 * concurrency): of two writers that loaded the same revision, the first save
 * wins and the second fails with {@link ConversationConflict}, its
 * conversation untouched in memory, so nothing is lost; it reloads and
 * decides what to keep.
 *
 * Stores: {@link layerMemory} (tests, one process), {@link layerFileSystem}
 * (a directory; several processes on one machine, or on hosts sharing a file
 * system with atomic hard links), {@link layerKeyValueStore} (any effect
 * `KeyValueStore`; conflicts detected within one process only), and
 * `PgConversationStore` in `@effect-harness/sql` (PostgreSQL).
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const concierge = Agent.make({ name: "concierge" })
 *
 * // loads session "ada" (or starts it), runs the agent in it, saves it
 * const turn = Agent.run(concierge, "Book me a table").pipe(ConversationStore.withSession("ada"))
 *
 * const Store = ConversationStore.layerFileSystem({ directory: ".sessions" }).pipe(Layer.provide(NodeFileSystem.layer))
 *
 * const program = turn.pipe(Effect.provide(Store))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema, Semaphore } from "effect"
import type { FileSystem } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { KeyValueStore } from "effect/persistence"
import * as Conversation from "./Conversation.ts"
import * as FileBackend from "./internal/conversationStoreFile.ts"

/**
 * A save that did not start from the latest revision: another writer saved
 * the session since this one loaded it. Nothing was written; the store keeps
 * the other writer's revision `actual`.
 *
 * @since 0.1.0
 */
export class ConversationConflict extends Schema.TaggedError<ConversationConflict>()("ConversationConflict", {
  sessionId: Schema.String,
  /** The revision the save started from (0: a new session). */
  expected: Schema.Int,
  /** The latest revision in the store. */
  actual: Schema.Int
}) {
  override get message(): string {
    return `Session ${JSON.stringify(this.sessionId)} was saved by another writer (revision ${this.actual}) since ` +
      `revision ${this.expected} was loaded: nothing was written; reload it and apply the changes again`
  }
}

/**
 * A store that could not be read or written (or a session id it cannot
 * hold), with the underlying error's description.
 *
 * @since 0.1.0
 */
export class ConversationStoreError extends Schema.TaggedError<ConversationStoreError>()("ConversationStoreError", {
  sessionId: Schema.String,
  operation: Schema.Literals(["load", "save", "delete", "open"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `Conversation store, ${this.operation} of session ${JSON.stringify(this.sessionId)}: ${this.detail}`
  }
}

/**
 * A saved document and its revision.
 *
 * @since 0.1.0
 */
export interface Saved {
  /** The document as JSON: `Conversation.Document` of any version ever written. */
  readonly json: string
  /** 1 for the first save of a session, then one more with each save. */
  readonly revision: number
}

/**
 * A store's operations, on raw documents. Build stores with {@link make}, which
 * validates session ids for every backend.
 *
 * @since 0.1.0
 */
export interface Service {
  /** The latest saved document of a session, or `undefined` if it has none. */
  readonly load: (sessionId: string) => Effect.Effect<Saved | undefined, ConversationStoreError>
  /**
   * Saves `json` as revision `expected + 1` if `expected` is the latest
   * revision (0: the session has none); returns the new revision.
   */
  readonly save: (
    sessionId: string,
    json: string,
    expected: number
  ) => Effect.Effect<number, ConversationConflict | ConversationStoreError>
  /** Deletes a session's documents (nothing if it has none). */
  readonly delete: (sessionId: string) => Effect.Effect<void, ConversationStoreError>
}

/**
 * The conversation store.
 *
 * @since 0.1.0
 */
export class ConversationStore
  extends Context.Service<ConversationStore, Service>()("@effect-harness/core/ConversationStore")
{}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/
const maxIdLength = 200

/**
 * Why a session id cannot be stored, or `undefined` if it can. The same rules
 * hold for every store: 1 to 200 characters of well-formed text (no lone
 * UTF-16 surrogate, as `"😀".slice(0, 1)` gives).
 *
 * @since 0.1.0
 */
export const invalidSessionId = (sessionId: string): string | undefined =>
  sessionId.length === 0
    ? "the session id is empty"
    : sessionId.length > maxIdLength
    ? `the session id is ${sessionId.length} characters long (at most ${maxIdLength})`
    : loneSurrogate.test(sessionId)
    ? "the session id has a lone UTF-16 surrogate (a string cut in the middle of a character?)"
    : undefined

/**
 * A store from a backend's operations, with session ids validated.
 *
 * @since 0.1.0
 */
export const make = (backend: Service): Service => {
  const check = <A, E>(
    sessionId: string,
    operation: ConversationStoreError["operation"],
    f: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E | ConversationStoreError> => {
    const invalid = invalidSessionId(sessionId)
    return invalid === undefined ? f() : Effect.fail(new ConversationStoreError({ sessionId, operation, detail: invalid }))
  }
  return {
    load: (sessionId) => check(sessionId, "load", () => backend.load(sessionId)),
    save: (sessionId, json, expected) => check(sessionId, "save", () => backend.save(sessionId, json, expected)),
    delete: (sessionId) => check(sessionId, "delete", () => backend.delete(sessionId))
  }
}

// -----------------------------------------------------------------------------
// Stores
// -----------------------------------------------------------------------------

/**
 * A store on any effect `KeyValueStore` (one key per session, holding the
 * revision and the document). A `KeyValueStore` cannot compare and set, so
 * concurrent saves are serialized and conflicts detected within this
 * process only: for several processes use {@link layerFileSystem} or
 * `PgConversationStore`.
 *
 * @since 0.1.0
 */
export const makeKeyValueStore = (kv: KeyValueStore.KeyValueStore): Effect.Effect<Service> =>
  Effect.sync(() => {
    const lock = Semaphore.makeUnsafe(1)
    const storeError = (sessionId: string, operation: ConversationStoreError["operation"]) =>
    (error: { readonly message: string }) => new ConversationStoreError({ sessionId, operation, detail: error.message })
    const load = (sessionId: string) =>
      Effect.flatMap(kv.get(sessionId), (value) => {
        if (value === undefined) return Effect.succeed(undefined)
        try {
          const saved = JSON.parse(value) as Saved
          if (typeof saved.revision === "number" && typeof saved.json === "string") return Effect.succeed(saved)
        } catch {
          // reported below
        }
        return Effect.fail(new ConversationStoreError({ sessionId, operation: "load", detail: "the stored value is not a saved conversation" }))
      }).pipe(Effect.catchTag("KeyValueStoreError", (error) => Effect.fail(storeError(sessionId, "load")(error))))
    return make({
      load,
      save: (sessionId, json, expected) =>
        lock.withPermits(1)(Effect.gen(function*() {
          const actual = (yield* load(sessionId))?.revision ?? 0
          if (actual !== expected) return yield* new ConversationConflict({ sessionId, expected, actual })
          const revision = expected + 1
          yield* kv.set(sessionId, JSON.stringify({ revision, json } satisfies Saved)).pipe(
            Effect.mapError(storeError(sessionId, "save"))
          )
          return revision
        })),
      delete: (sessionId) => kv.remove(sessionId).pipe(Effect.mapError(storeError(sessionId, "delete")))
    })
  })

/**
 * A store on the `KeyValueStore` in the context (see {@link makeKeyValueStore}
 * for its limits).
 *
 * @example
 * ```ts
 * import { ConversationStore } from "@effect-harness/core"
 * import { Layer } from "effect"
 * import { KeyValueStore } from "effect/persistence"
 *
 * const Store = ConversationStore.layerKeyValueStore.pipe(Layer.provide(KeyValueStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
export const layerKeyValueStore: Layer.Layer<ConversationStore, never, KeyValueStore.KeyValueStore> = Layer.effect(
  ConversationStore,
  Effect.flatMap(Effect.service(KeyValueStore.KeyValueStore), makeKeyValueStore)
)

/**
 * A store in memory, for tests and single-process programs.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<ConversationStore> = layerKeyValueStore.pipe(
  Layer.provide(KeyValueStore.layerMemory)
)

/**
 * Options of the file store.
 *
 * @since 0.1.0
 */
export interface FileSystemOptions {
  /** The directory of the sessions, created if missing. */
  readonly directory: string
}

/**
 * A store in a directory: `<directory>/<session>/<revision>.json`, one
 * directory per session (its name is the session id, percent-encoded). A save
 * writes the document to a temporary file, `fsync`s it, and hard-links it as
 * the next revision's file: a link fails if the name exists, so of two
 * writers that started from the same revision exactly one succeeds, across
 * processes and across hosts whose shared file system has atomic hard links
 * (local file systems, NFSv3+; not SMB). A crash mid-save leaves at most a
 * temporary file, never a partial revision. The two newest revisions are
 * kept.
 *
 * Needs effect's `FileSystem`: provide `NodeFileSystem.layer` from
 * `@effect/platform-node`.
 *
 * @example
 * ```ts
 * import { ConversationStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const Store = ConversationStore.layerFileSystem({ directory: "/var/lib/my-app/sessions" }).pipe(
 *   Layer.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerFileSystem = (
  options: FileSystemOptions
): Layer.Layer<ConversationStore, ConversationStoreError, FileSystem.FileSystem> =>
  Layer.effect(
    ConversationStore,
    Effect.gen(function*() {
      const backend = yield* FileBackend.make(options.directory).pipe(
        Effect.mapError((error) =>
          new ConversationStoreError({
            sessionId: "",
            operation: "open",
            detail: `${options.directory}: ${FileBackend.describe(error)}`
          })
        )
      )
      const failWith = (sessionId: string, operation: ConversationStoreError["operation"]) => (error: PlatformError) =>
        new ConversationStoreError({ sessionId, operation, detail: FileBackend.describe(error) })
      return make({
        load: (sessionId) => backend.load(sessionId).pipe(Effect.mapError(failWith(sessionId, "load"))),
        save: (sessionId, json, expected) =>
          backend.save(sessionId, json, expected).pipe(
            Effect.mapError(failWith(sessionId, "save")),
            Effect.flatMap((result) =>
              result._tag === "Saved"
                ? Effect.succeed(result.revision)
                : Effect.fail(new ConversationConflict({ sessionId, expected, actual: result.actual }))
            )
          ),
        delete: (sessionId) => backend.delete(sessionId).pipe(Effect.mapError(failWith(sessionId, "delete")))
      })
    }).pipe(Effect.withSpan("ConversationStore.layerFileSystem"))
  )

// -----------------------------------------------------------------------------
// Conversations in a store
// -----------------------------------------------------------------------------

interface Tracked {
  readonly sessionId: string
  revision: number
  readonly lock: Semaphore.Semaphore
}

// The session and revision each loaded conversation was saved at: the
// conversation itself stays an ordinary `Conversation.Service`.
const tracked = new WeakMap<Conversation.Service, Tracked>()

/**
 * Loads a session's conversation from the store (migrating a document of an
 * older version), or starts an empty one with the session id as its id if
 * the session has none. {@link save} writes it back.
 *
 * @since 0.1.0
 */
export const load = Effect.fn("ConversationStore.load")(function*(sessionId: string) {
  const store = yield* ConversationStore
  const saved = yield* store.load(sessionId)
  const conversation = saved === undefined
    ? yield* Conversation.make({ id: sessionId })
    : yield* Conversation.importJson(saved.json)
  tracked.set(conversation, { sessionId, revision: saved?.revision ?? 0, lock: Semaphore.makeUnsafe(1) })
  return conversation
})

/**
 * Saves a conversation to the store: one loaded with {@link load} goes back to
 * its session, from the revision it was loaded (or last saved) at; any other
 * is saved as a new session named by its id. Fails with
 * {@link ConversationConflict} if another writer saved the session in between.
 * Returns the new revision.
 *
 * @since 0.1.0
 */
export const save = Effect.fn("ConversationStore.save")(function*(conversation: Conversation.Service) {
  const store = yield* ConversationStore
  let entry = tracked.get(conversation)
  if (entry === undefined) {
    entry = { sessionId: conversation.id, revision: 0, lock: Semaphore.makeUnsafe(1) }
    tracked.set(conversation, entry)
  }
  const current = entry
  // saves of one conversation go one at a time: they must not conflict with each other
  return yield* current.lock.withPermits(1)(Effect.gen(function*() {
    const document = yield* Conversation.exportDocument(conversation)
    const revision = yield* store.save(current.sessionId, JSON.stringify(document), current.revision)
    current.revision = revision
    return revision
  }))
})

/**
 * The revision a conversation was loaded or last saved at (0: never saved).
 *
 * @since 0.1.0
 */
export const revision = (conversation: Conversation.Service): number => tracked.get(conversation)?.revision ?? 0

/**
 * Saves the current conversation (see {@link save}).
 *
 * @since 0.1.0
 */
export const saveCurrent: Effect.Effect<
  number,
  ConversationConflict | ConversationStoreError,
  ConversationStore | Conversation.Conversation
> = Effect.flatMap(Effect.service(Conversation.Conversation), save)

/**
 * A layer with a session's conversation, loaded from the store when it is
 * built. Save it with {@link saveCurrent} when a turn is done.
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * declare const concierge: Agent.Agent<string, string, never>
 *
 * const turn = (input: string) =>
 *   Effect.gen(function*() {
 *     const answer = yield* Agent.run(concierge, input)
 *     yield* ConversationStore.saveCurrent
 *     return answer
 *   })
 *
 * const Session = ConversationStore.layerConversation("session-42")
 * ```
 *
 * @since 0.1.0
 */
export const layerConversation = (
  sessionId: string
): Layer.Layer<Conversation.Conversation, Conversation.ImportError | ConversationStoreError, ConversationStore> =>
  Layer.effect(Conversation.Conversation, load(sessionId))

/**
 * Runs an effect in a session's conversation: loads it (or starts it), runs
 * the effect with it as the current `Conversation`, and saves it when the
 * effect succeeds. A failed effect saves nothing: the session stays at its
 * last successful turn.
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-harness/core"
 *
 * declare const concierge: Agent.Agent<string, string, never>
 *
 * const answer = (sessionId: string, input: string) =>
 *   Agent.run(concierge, input).pipe(ConversationStore.withSession(sessionId))
 * ```
 *
 * @since 0.1.0
 */
export const withSession = (sessionId: string) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | Conversation.ImportError | ConversationStoreError | ConversationConflict,
  ConversationStore | Exclude<R, Conversation.Conversation>
> =>
  Effect.gen(function*() {
    const conversation = yield* load(sessionId)
    const result = yield* Effect.provideService(self, Conversation.Conversation, conversation)
    yield* save(conversation)
    return result
  })
