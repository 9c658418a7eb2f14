/**
 * Knowledge-base tools, shared by the triage agent, the chat and the HTTP
 * server: effect `Tool`s with Schemas for their parameters, results and
 * failures, and handlers over the `KnowledgeBase` service.
 *
 * Both tools only read, so they are annotated `Tool.Idempotent`: a durable
 * run that stopped while one was running may simply run it again.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { type Article, search } from "./data.ts"

/** The articles the tools read. */
export class KnowledgeBase extends Context.Service<KnowledgeBase, {
  readonly articles: ReadonlyArray<Article>
}>()("@effect-harness/examples/KnowledgeBase") {
  static readonly layer = (articles: ReadonlyArray<Article>) => Layer.succeed(KnowledgeBase, { articles })
}

export const SearchKb = Tool.make("search_kb", {
  description: "Search the knowledge base by keywords. Returns at most 3 articles, best first, with a relevance " +
    "score from 0 to 1 and their first sentence.",
  parameters: Schema.Struct({
    query: Schema.String.annotate({ description: "Keywords, e.g. 'duplicate charge refund'" })
  }),
  success: Schema.Struct({
    results: Schema.Array(Schema.Struct({
      id: Schema.String,
      title: Schema.String,
      score: Schema.Number,
      snippet: Schema.String
    }))
  })
}).annotate(Tool.Idempotent, true)

/** `get_article` was asked for an id the knowledge base does not have (models do invent ids). */
export class ArticleNotFound extends Schema.TaggedError<ArticleNotFound>()("ArticleNotFound", {
  id: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `No article "${this.id}". Known ids: ${this.known.join(", ")}. Use search_kb to find one.`
  }
}

export const GetArticle = Tool.make("get_article", {
  description: "Read a whole knowledge-base article by its id (ids come from search_kb).",
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ id: Schema.String, title: Schema.String, body: Schema.String }),
  failure: ArticleNotFound
}).annotate(Tool.Idempotent, true)

export const KbTools = Toolkit.make(SearchKb, GetArticle)

/** The handlers of the two tools, for any toolkit that contains them. */
export const kbHandlers = Effect.gen(function*() {
  const { articles } = yield* KnowledgeBase
  const byId = new Map(articles.map((article) => [article.id, article]))
  return {
    search_kb: ({ query }: { readonly query: string }) => Effect.succeed({ results: search(articles, query) }),
    get_article: ({ id }: { readonly id: string }) => {
      const article = byId.get(id.trim())
      return article === undefined
        ? Effect.fail(new ArticleNotFound({ id, known: [...byId.keys()] }))
        : Effect.succeed({ id: article.id, title: article.title, body: article.body })
    }
  }
})

/** The toolkit's handlers as a layer (needs the `KnowledgeBase`). */
export const KbToolsLive = KbTools.toLayer(kbHandlers)
