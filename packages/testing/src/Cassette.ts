/**
 * Record the HTTP traffic between a client (the `openai` SDK, or any HTTP
 * client) and a real endpoint into a file, and replay it offline.
 *
 * A cassette is a small HTTP server on 127.0.0.1: point the client's base URL
 * at `cassette.url`. In `record` mode it forwards each request to the
 * upstream endpoint and writes the exchange to the file; in `replay` mode it
 * answers from the file without any network; `replay-or-record` replays what
 * it has and records the rest.
 *
 * The file format is the one of the recorded OpenAI fixtures (one JSON file,
 * `{ source, interactions: [{ request: { method, path, body }, response:
 * { status, contentType, headers?, body } }] }`), so recorded fixtures and
 * your own cassettes are one format. Requests match on method, path and
 * normalized body (object keys sorted); a request that matches nothing gets
 * a 400 whose message is a readable diff against the nearest recorded one.
 * Credentials never reach the file: only `retry-after`/`retry-after-ms`
 * response headers are kept, and request headers are not stored at all.
 *
 * @example
 * ```ts
 * import { Cassette } from "@effect-harness/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const cassette = yield* Cassette.Cassette
 *   // give cassette.url to the SDK as its baseURL
 *   return cassette.url
 * }).pipe(Effect.provide(Cassette.layer({ path: "test/cassettes/triage.json", mode: "replay" })))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema, TextDiff } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"

/**
 * One recorded exchange.
 *
 * @since 0.1.0
 */
export const Interaction = Schema.Struct({
  request: Schema.Struct({ method: Schema.String, path: Schema.String, body: Schema.Unknown }),
  response: Schema.Struct({
    status: Schema.Int,
    contentType: Schema.String,
    headers: Schema.optional(Schema.Record(Schema.String, Schema.String)),
    body: Schema.String
  })
})

/**
 * @since 0.1.0
 */
export type Interaction = typeof Interaction.Type

/**
 * A cassette file.
 *
 * @since 0.1.0
 */
export const CassetteFile = Schema.Struct({
  source: Schema.optional(Schema.String),
  interactions: Schema.Array(Interaction)
})

/**
 * @since 0.1.0
 */
export type CassetteFile = typeof CassetteFile.Type

/**
 * How a cassette treats requests.
 *
 * @since 0.1.0
 */
export type Mode = "record" | "replay" | "replay-or-record"

/**
 * The cassette file is missing (in replay mode) or cannot be read.
 *
 * @since 0.1.0
 */
export class CassetteError extends Schema.TaggedError<CassetteError>()("CassetteError", {
  path: Schema.String,
  message: Schema.String
}) {}

/**
 * A request that matched no recorded interaction.
 *
 * @since 0.1.0
 */
export interface Mismatch {
  readonly method: string
  readonly path: string
  readonly body: unknown
  /** A unified diff of the nearest recorded request body (-) against this one (+). */
  readonly diff: string
}

/**
 * A running cassette.
 *
 * @since 0.1.0
 */
export class Cassette extends Context.Service<Cassette, {
  /** The base URL to give the client, ending in `/v1`. */
  readonly url: string
  /** The interactions on file, recorded ones included. */
  readonly interactions: Effect.Effect<ReadonlyArray<Interaction>>
  /** Requests that matched nothing, with their diffs. */
  readonly mismatches: Effect.Effect<ReadonlyArray<Mismatch>>
}>()("@effect-harness/testing/Cassette") {}

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The cassette file. */
  readonly path: string
  readonly mode: Mode
  /** Where `record` forwards requests. Default `https://api.openai.com`. */
  readonly upstream?: string | undefined
  /** Written into the file's `source` field when recording. */
  readonly source?: string | undefined
}

const keptResponseHeaders = ["retry-after", "retry-after-ms"]

/**
 * Sorts object keys recursively, so that two bodies that differ only in key
 * order compare equal.
 *
 * @since 0.1.0
 */
export const normalize = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(normalize)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) out[key] = normalize((value as Record<string, unknown>)[key])
    return out
  }
  return value
}

const keyOf = (method: string, path: string, body: unknown) =>
  `${method.toUpperCase()} ${path}\n${JSON.stringify(normalize(body))}`

const pretty = (body: unknown) => `${JSON.stringify(normalize(body), null, 2)}\n`

/**
 * The unified diff of the nearest recorded request (by number of changed
 * lines, same method and path first) against the given one.
 *
 * @since 0.1.0
 */
export const nearestDiff = (
  interactions: ReadonlyArray<Interaction>,
  method: string,
  path: string,
  body: unknown
): string => {
  if (interactions.length === 0) return "(the cassette holds no interactions)"
  const actual = pretty(body)
  let best: { readonly cost: number; readonly diff: string; readonly header: string } | undefined
  for (const interaction of interactions) {
    const samePlace = interaction.request.method.toUpperCase() === method.toUpperCase() &&
      interaction.request.path === path
    const edits = TextDiff.lines(pretty(interaction.request.body), actual, { maxEdits: 2000 })
    let cost = samePlace ? 0 : 1_000_000
    for (const edit of edits) if (edit._tag !== "Equal") cost += edit.items.length
    if (best === undefined || cost < best.cost) {
      best = {
        cost,
        diff: TextDiff.unified(edits, { fromFile: "recorded", toFile: "actual" }),
        header: `nearest recorded: ${interaction.request.method} ${interaction.request.path}`
      }
    }
  }
  return `${best!.header}\n${best!.diff}`
}

const readFile = (path: string, mode: Mode): Effect.Effect<Array<Interaction>, CassetteError> =>
  Effect.try({
    try: () => {
      if (!Fs.existsSync(path)) {
        if (mode === "replay") throw new Error("the file does not exist (record it first with mode \"record\")")
        return []
      }
      const file = Schema.decodeUnknownSync(CassetteFile)(JSON.parse(Fs.readFileSync(path, "utf8")))
      return file.interactions.slice()
    },
    catch: (error) => new CassetteError({ path, message: error instanceof Error ? error.message : String(error) })
  })

// Written whole to a temporary file and renamed, so a crash never leaves half a cassette.
const writeFile = (path: string, source: string | undefined, interactions: ReadonlyArray<Interaction>) => {
  Fs.mkdirSync(Path.dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.tmp`
  const file: CassetteFile = source === undefined ? { interactions } : { source, interactions }
  Fs.writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`)
  Fs.renameSync(temp, path)
}

const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const parseBody = (text: string): unknown => {
  if (text.length === 0) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

// Request headers forwarded upstream; the credentials pass through but are never stored.
const forwardedHeaders = (request: Http.IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(request.headers)) {
    if (value === undefined || key === "host" || key === "content-length" || key === "connection") continue
    out[key] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

/**
 * Starts a cassette for the lifetime of the layer's scope.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Cassette, CassetteError> =>
  Layer.effect(Cassette, make(options))

/**
 * Starts a cassette in the current scope.
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const interactions = yield* readFile(options.path, options.mode)
  const upstream = (options.upstream ?? "https://api.openai.com").replace(/\/$/, "")
  const mismatches: Array<Mismatch> = []
  const used = new Set<number>()

  const find = (key: string): Interaction | undefined => {
    let fallback: Interaction | undefined
    for (let i = 0; i < interactions.length; i++) {
      const interaction = interactions[i]!
      if (keyOf(interaction.request.method, interaction.request.path, interaction.request.body) !== key) continue
      if (!used.has(i)) {
        used.add(i)
        return interaction
      }
      fallback = interaction
    }
    // every copy was used: the same request again gets the same answer
    return fallback
  }

  const respond = (response: Http.ServerResponse, interaction: Interaction) => {
    response.writeHead(interaction.response.status, {
      "content-type": interaction.response.contentType,
      ...interaction.response.headers
    })
    response.end(interaction.response.body)
  }

  const record = async (request: Http.IncomingMessage, response: Http.ServerResponse, path: string, text: string) => {
    const upstreamResponse = await fetch(`${upstream}${path}`, {
      method: request.method ?? "POST",
      headers: forwardedHeaders(request),
      ...(text.length > 0 ? { body: text } : {})
    })
    const contentType = upstreamResponse.headers.get("content-type") ?? "application/json"
    const headers: Record<string, string> = {}
    for (const name of keptResponseHeaders) {
      const value = upstreamResponse.headers.get(name)
      if (value !== null) headers[name] = value
    }
    response.writeHead(upstreamResponse.status, { "content-type": contentType, ...headers })
    // streamed bodies are passed on as they arrive and stored byte-exact
    const chunks: Array<Uint8Array> = []
    if (upstreamResponse.body !== null) {
      for await (const chunk of upstreamResponse.body) {
        chunks.push(chunk)
        response.write(chunk)
      }
    }
    response.end()
    interactions.push({
      request: { method: (request.method ?? "POST").toUpperCase(), path, body: parseBody(text) },
      response: {
        status: upstreamResponse.status,
        contentType: contentType.split(";")[0]!.trim(),
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        body: Buffer.concat(chunks).toString("utf8")
      }
    })
    used.add(interactions.length - 1)
    writeFile(options.path, options.source, interactions)
  }

  const handle = async (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    const path = (request.url ?? "/").split("?")[0]!
    const text = await readBody(request)
    const body = parseBody(text)
    const method = (request.method ?? "POST").toUpperCase()
    if (options.mode !== "record") {
      const found = find(keyOf(method, path, body))
      if (found !== undefined) return respond(response, found)
      if (options.mode === "replay") {
        const diff = nearestDiff(interactions, method, path, body)
        mismatches.push({ method, path, body, diff })
        response.writeHead(400, { "content-type": "application/json" })
        return response.end(JSON.stringify({
          error: {
            message: `Cassette ${options.path}: no recorded interaction matches ${method} ${path}\n${diff}`,
            type: "invalid_request_error",
            param: null,
            code: "cassette_mismatch"
          }
        }))
      }
    }
    return record(request, response, path, text)
  }

  const server = Http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(502, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: { message: `Cassette: ${String(error)}`, type: "server_error" } }))
    })
  })
  const port = yield* Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

  return Cassette.of({
    url: `http://127.0.0.1:${port}/v1`,
    interactions: Effect.sync(() => interactions.slice()),
    mismatches: Effect.sync(() => mismatches.slice())
  })
})
