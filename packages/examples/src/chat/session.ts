/**
 * Chat sessions on disk: a session is a `Conversation`, exported to
 * versioned JSON (`Conversation.exportDocument`) in `<state>/chat/<name>.json`
 * after every answered turn, and imported (`Conversation.importJson`) by
 * `--session <name>`. The export format is versioned, so a session saved by
 * an older version of the library still opens.
 */
import { Conversation } from "@effect-harness/core"
import { Effect, FileSystem, Path } from "effect"
import { ExampleError, oneLine } from "../shared/cli.ts"

const validName = /^[A-Za-z0-9_-]{1,64}$/

export interface Session {
  readonly name: string
  readonly file: string
  readonly conversation: Conversation.Service
  readonly resumed: boolean
}

const fileError = (what: string, file: string) => (error: { readonly message: string }) =>
  new ExampleError({ message: `Cannot ${what} the session file ${file}: ${oneLine(error.message, 160)}; check --state` })

/** Opens the session `name`: its saved conversation, or a new empty one. */
export const open = Effect.fn("session.open")(function*(stateDir: string, name: string) {
  if (!validName.test(name)) {
    return yield* new ExampleError({
      message: `"${name}" is not a session name: use letters, digits, "-" and "_" (at most 64)`
    })
  }
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const file = path.join(stateDir, "chat", `${name}.json`)
  if (!(yield* fs.exists(file).pipe(Effect.mapError(fileError("read", file))))) {
    return { name, file, conversation: yield* Conversation.make({ id: name }), resumed: false } satisfies Session
  }
  const json = yield* fs.readFileString(file).pipe(Effect.mapError(fileError("read", file)))
  const conversation = yield* Conversation.importJson(json).pipe(
    Effect.mapError((error) =>
      new ExampleError({
        message: `${file} is not a saved session (${oneLine(error.message, 120)}): move it away, or use another --session`
      })
    )
  )
  return { name, file, conversation, resumed: true } satisfies Session
})

/** Saves the session, whole or not at all (a crash mid-write keeps the previous save). */
export const save = Effect.fn("session.save")(function*(session: Session) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const document = yield* Conversation.exportDocument(session.conversation)
  const tmp = `${session.file}.${process.pid}.tmp`
  yield* fs.makeDirectory(path.dirname(session.file), { recursive: true }).pipe(
    Effect.andThen(fs.writeFileString(tmp, `${JSON.stringify(document, null, 2)}\n`)),
    Effect.andThen(fs.rename(tmp, session.file)),
    Effect.mapError(fileError("write", session.file))
  )
})
