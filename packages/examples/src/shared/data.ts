/**
 * The bundled data set: support tickets (`tickets/*.json`, each decoded with
 * the `Ticket` Schema) and knowledge-base articles (`kb/*.md`, the first `#`
 * heading is the title, the file name the id).
 *
 * Loading fails with one `ExampleError` per problem, naming the file and
 * what to do: a data folder that does not exist or cannot be read, a ticket
 * that is not JSON or not a ticket, two tickets with the same id, an empty
 * folder.
 */
import { Effect, FileSystem, Path, Schema } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { fileURLToPath } from "node:url"
import { ExampleError, oneLine } from "./cli.ts"

/** The data folder that ships with the examples. */
export const defaultDataDir = fileURLToPath(new URL("../../data", import.meta.url))

/** A support ticket, as the JSON files hold it. */
export const Ticket = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/)),
  subject: Schema.NonEmptyString,
  body: Schema.NonEmptyString,
  from: Schema.String
})

export type Ticket = typeof Ticket.Type

const decodeTicket = Schema.decodeUnknownEffect(Schema.fromJsonString(Ticket))

/** A knowledge-base article. */
export interface Article {
  readonly id: string
  readonly title: string
  readonly body: string
}

const hint = "pass --data DIR, a folder holding tickets/*.json and kb/*.md"

/** Turns a file-system failure into a line naming the path and what to do. */
const fsError = (what: string, path: string) => (error: PlatformError): ExampleError => {
  const reason = error.reason
  const tag = reason._tag
  const why = tag === "NotFound"
    ? "it does not exist"
    : tag === "PermissionDenied"
    ? "permission denied"
    : tag === "BadResource"
    ? "it is not a readable file"
    : oneLine(reason.message)
  return new ExampleError({ message: `Cannot read ${what} ${path}: ${why}; ${hint}` })
}

const listFiles = Effect.fnUntraced(function*(dir: string, extension: string, what: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const info = yield* fs.stat(dir).pipe(Effect.mapError(fsError(what, dir)))
  if (info.type !== "Directory") {
    return yield* new ExampleError({ message: `${what} ${dir} is not a folder; ${hint}` })
  }
  const names = yield* fs.readDirectory(dir).pipe(Effect.mapError(fsError(what, dir)))
  const files = names.filter((name) => name.endsWith(extension)).sort()
  if (files.length === 0) {
    return yield* new ExampleError({ message: `${what} ${dir} has no ${extension} files; ${hint}` })
  }
  return files.map((name) => ({ name, file: path.join(dir, name) }))
})

/** Reads and decodes every ticket of `<dir>/tickets`, in file-name order. */
export const loadTickets = Effect.fn("data.loadTickets")(function*(dir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const files = yield* listFiles(path.join(dir, "tickets"), ".json", "the tickets folder")
  const tickets: Array<Ticket> = []
  const seen = new Map<string, string>()
  for (const { file } of files) {
    const text = yield* fs.readFileString(file).pipe(Effect.mapError(fsError("the ticket file", file)))
    const ticket = yield* decodeTicket(text).pipe(
      Effect.mapError((error) =>
        new ExampleError({
          message: `${file} is not a valid ticket (${oneLine(error.message, 200)}); a ticket is ` +
            `{ "id", "subject", "body", "from" }: fix or remove the file, then run again`
        })
      )
    )
    const other = seen.get(ticket.id)
    if (other !== undefined) {
      return yield* new ExampleError({
        message: `${file} and ${other} both hold ticket ${ticket.id}: ticket ids must be unique, rename one`
      })
    }
    seen.set(ticket.id, file)
    tickets.push(ticket)
  }
  return tickets
})

/** Reads every article of `<dir>/kb`. */
export const loadArticles = Effect.fn("data.loadArticles")(function*(dir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const files = yield* listFiles(path.join(dir, "kb"), ".md", "the knowledge-base folder")
  const articles: Array<Article> = []
  for (const { file, name } of files) {
    const text = yield* fs.readFileString(file).pipe(Effect.mapError(fsError("the article", file)))
    const heading = /^#\s+(.+)$/m.exec(text)
    articles.push({
      id: name.slice(0, -".md".length),
      title: heading?.[1]?.trim() ?? name,
      body: text.replace(/^#\s+.+$/m, "").trim()
    })
  }
  return articles
})

// -----------------------------------------------------------------------------
// Search
// -----------------------------------------------------------------------------

const stopWords = new Set(
  ("a an and are as at be but by can do does for from has have how i in is it its me my no not of on or our " +
    "so that the their them then there this to was we what when where which who why will with you your")
    .split(" ")
)

/** Lower-cased words without stop words, crudely stemmed so that "charges" finds "charge". */
export const terms = (text: string): Array<string> =>
  text.toLowerCase().split(/[^a-z0-9]+/).filter((word) => word.length > 1 && !stopWords.has(word)).map((word) =>
    word.length > 4 ? word.replace(/(ing|ed|es|s)$/, "") : word
  )

/** A search hit: `score` from 0 to 1, the share of the query's terms the article contains. */
export interface Hit {
  readonly id: string
  readonly title: string
  readonly score: number
  readonly snippet: string
}

/**
 * Ranks articles by the query terms they contain (title matches count
 * double). Plain keyword search: small enough to read, good enough for eight
 * articles, and deterministic, which the scripted model relies on.
 */
export const search = (articles: ReadonlyArray<Article>, query: string, limit = 3): Array<Hit> => {
  const wanted = [...new Set(terms(query))]
  if (wanted.length === 0) return []
  return articles
    .map((article) => {
      const title = new Set(terms(article.title))
      const body = new Set(terms(article.body))
      let points = 0
      for (const term of wanted) points += title.has(term) ? 2 : body.has(term) ? 1 : 0
      const sentence = article.body.split(/(?<=\.)\s+/)[0] ?? ""
      return {
        id: article.id,
        title: article.title,
        score: Math.round((points / (2 * wanted.length)) * 100) / 100,
        snippet: sentence.length > 160 ? `${sentence.slice(0, 159)}…` : sentence
      }
    })
    .filter((hit) => hit.score > 0)
    .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
    .slice(0, limit)
}
