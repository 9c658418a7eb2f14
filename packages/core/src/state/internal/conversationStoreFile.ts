/**
 * The file conversation store backend.
 *
 * Layout: `<directory>/<session>/<revision>.json` (the session id
 * percent-encoded, the revision zero-padded to 12 digits), plus temporary
 * files `.tmp-*` while a save is under way. A session id whose encoding is
 * over 200 bytes (file names stop at 255) is named by its first characters,
 * `~` and its SHA-256: `~` is always encoded in short names, so the two kinds
 * never meet.
 *
 * A save of revision n + 1 writes and `fsync`s a temporary file, then
 * hard-links it as `<n + 1>.json`: `link` fails when the name exists, so
 * exactly one of two writers starting from revision n gets it, and a
 * revision file is whole from the moment it exists. The two newest revisions
 * are kept and older ones deleted; since a deleted name could be linked again
 * by a writer that started long ago, a save that finds a newer revision than
 * its own right after linking takes its file back and reports the conflict.
 *
 * @internal
 */
import { Effect, FileSystem } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { encodeRunId } from "../../durable/internal/runStoreFile.ts"

export interface Saved {
  readonly json: string
  readonly revision: number
}

/** A save's outcome: the new revision, or the newer one another writer saved. */
export type SaveResult = { readonly _tag: "Saved"; readonly revision: number } | {
  readonly _tag: "Conflict"
  readonly actual: number
}

export interface Backend {
  readonly load: (sessionId: string) => Effect.Effect<Saved | undefined, PlatformError>
  readonly save: (sessionId: string, json: string, expected: number) => Effect.Effect<SaveResult, PlatformError>
  readonly delete: (sessionId: string) => Effect.Effect<void, PlatformError>
}

const maxName = 200

/** The directory name of a session. */
export const sessionDirName = (sessionId: string): Effect.Effect<string> => {
  const encoded = encodeRunId(sessionId)
  if (encoded.length <= maxName) return Effect.succeed(encoded)
  return Effect.map(
    Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(sessionId))),
    (digest) => {
      // cut before a percent escape, never inside one
      const head = encoded.slice(0, 100).replace(/%[0-9A-F]?$/, "")
      const hex = Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("")
      return `${head}~${hex}`
    }
  )
}

const revisionFile = /^(\d{12})\.json$/

const fileName = (revision: number) => `${String(revision).padStart(12, "0")}.json`

const token = () => Math.random().toString(36).slice(2, 10)

/** A platform error with the system's own message (ENOSPC, EACCES...) when it has one. */
export const describe = (error: PlatformError): string => {
  const reason = error.reason as { readonly cause?: unknown; readonly message: string }
  const cause = reason.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  return typeof cause?.code === "string" && typeof cause.message === "string"
    ? `${reason.message} (${cause.message})`
    : reason.message
}

/** The backend in `directory`, created if missing. */
export const make = Effect.fnUntraced(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  yield* fs.makeDirectory(directory, { recursive: true })
  const dirOf = (sessionId: string) => Effect.map(sessionDirName(sessionId), (name) => `${directory}/${name}`)

  /** The revisions on disk, newest first. */
  const revisions = (dir: string) =>
    fs.readDirectory(dir).pipe(
      Effect.map((names) =>
        names.flatMap((name) => {
          const match = revisionFile.exec(name)
          return match === null ? [] : [Number(match[1])]
        }).sort((a, b) => b - a)
      ),
      Effect.catchIf((error) => error.reason._tag === "NotFound", () => Effect.succeed([] as Array<number>))
    )

  const load = (sessionId: string): Effect.Effect<Saved | undefined, PlatformError> => Effect.flatMap(dirOf(sessionId), (dir) => {
    // the newest file can be deleted between the listing and the read (two
    // saves later): list again
    const attempt = (tries: number): Effect.Effect<Saved | undefined, PlatformError> =>
      Effect.flatMap(revisions(dir), (found) => {
        const newest = found[0]
        if (newest === undefined) return Effect.succeed(undefined)
        return fs.readFileString(`${dir}/${fileName(newest)}`).pipe(
          Effect.map((json): Saved | undefined => ({ json, revision: newest })),
          Effect.catchIf(
            (error) => error.reason._tag === "NotFound" && tries > 1,
            () => attempt(tries - 1)
          )
        )
      })
    return attempt(10)
  })

  const save = (sessionId: string, json: string, expected: number): Effect.Effect<SaveResult, PlatformError> =>
    Effect.gen(function*() {
      const dir = yield* dirOf(sessionId)
      const revision = expected + 1
      const target = `${dir}/${fileName(revision)}`
      const newest = (yield* revisions(dir))[0] ?? 0
      if (newest !== expected) return { _tag: "Conflict", actual: newest } as const
      yield* fs.makeDirectory(dir, { recursive: true })
      const tmp = `${dir}/.tmp-${token()}`
      yield* Effect.scoped(Effect.gen(function*() {
        const file = yield* fs.open(tmp, { flag: "wx" })
        yield* file.writeAll(new TextEncoder().encode(json))
        yield* file.sync
      }))
      const linked = yield* fs.link(tmp, target).pipe(
        Effect.as(true),
        Effect.catchIf((error) => error.reason._tag === "AlreadyExists", () => Effect.succeed(false)),
        Effect.ensuring(Effect.ignore(fs.remove(tmp)))
      )
      const after = yield* revisions(dir)
      if (!linked) return { _tag: "Conflict", actual: after[0] ?? revision } as const
      if ((after[0] ?? 0) > revision) {
        // a name freed by pruning, linked by a writer that started long ago
        yield* Effect.ignore(fs.remove(target))
        return { _tag: "Conflict", actual: after[0]! } as const
      }
      yield* Effect.forEach(after.filter((r) => r < revision - 1), (r) => Effect.ignore(fs.remove(`${dir}/${fileName(r)}`)), {
        discard: true
      })
      return { _tag: "Saved", revision } as const
    })

  const remove = (sessionId: string) =>
    Effect.flatMap(dirOf(sessionId), (dir) => fs.remove(dir, { recursive: true })).pipe(
      Effect.catchIf((error) => error.reason._tag === "NotFound", () => Effect.void)
    )

  return { load, save, delete: remove } satisfies Backend
})
