/**
 * Proves the public packages as a user gets them: builds and packs them, checks
 * what each tarball holds, runs `npm publish --dry-run` for each, then installs
 * the tarballs into a fresh app outside the workspace (in the OS temp
 * directory, everything else from the npm registry) and, in that app:
 * type-checks a small program under `module: nodenext` and under `bundler`,
 * runs it on this Node (24), runs its compiled JS on the system Node (20), and
 * runs an `@effect/vitest` test that swaps the model layer for `TestModel`.
 *
 * Fails on any peer dependency warning of the install. `.ci/run` runs it after
 * `npm test` (`npm run check:packages`). Set KEEP_APP=1 to keep the app.
 */
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const packages = ["core", "testing", "openai", "sql", "workflow"] as const
// the Node the compiled output must still run on (the system Node of CI machines)
const systemNode = process.env["SYSTEM_NODE"] ?? "/usr/bin/node"
const npm = process.platform === "win32" ? "npm.cmd" : "npm"

const step = (title: string) => console.log(`\ncheck-packages: ${title}`)

const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(
      `${command} ${args.join(" ")} failed in ${cwd}\n${failure.stdout ?? ""}\n${failure.stderr ?? failure.message}`
    )
  }
}

/** Like {@link run}, returning stderr too (npm writes its warnings there). */
const runBoth = (command: string, args: ReadonlyArray<string>, cwd: string): { stdout: string; stderr: string } => {
  const stderrFile = join(cwd, `.stderr-${process.pid}`)
  try {
    const stdout = execFileSync("sh", ["-c", `"$0" "$@" 2>"${stderrFile}"`, command, ...args], {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"]
    })
    return { stdout, stderr: readFileSync(stderrFile, "utf8") }
  } catch (error) {
    const stderr = existsSync(stderrFile) ? readFileSync(stderrFile, "utf8") : ""
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}\n${(error as { stdout?: string }).stdout ?? ""}\n${stderr}`)
  } finally {
    rmSync(stderrFile, { force: true })
  }
}

const started = Date.now()
const work = mkdtempSync(join(tmpdir(), "effect-harness-packages-"))
const tarballs = join(work, "tarballs")
const app = join(work, "app")
mkdirSync(tarballs)
mkdirSync(app)

try {
  step("build")
  run(npm, ["run", "build"], root)

  step("pack and publish --dry-run")
  const license = readFileSync(join(root, "LICENSE"), "utf8")
  const files: Record<string, string> = {}
  for (const name of packages) {
    const dir = join(root, "packages", name)
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
    if (readFileSync(join(dir, "LICENSE"), "utf8") !== license) {
      throw new Error(`packages/${name}/LICENSE differs from the root LICENSE`)
    }
    for (const field of ["repository", "homepage", "bugs", "keywords", "engines", "license"]) {
      if (manifest[field] === undefined) throw new Error(`${manifest.name}: no "${field}" in package.json`)
    }
    const [packed] = JSON.parse(run(npm, ["pack", "--json", "--pack-destination", tarballs], dir)) as Array<{
      filename: string
      files: Array<{ path: string }>
    }>
    const paths = new Set(packed!.files.map((file) => file.path))
    for (const required of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts"]) {
      if (!paths.has(required)) throw new Error(`${manifest.name}: the tarball has no ${required}`)
    }
    for (const path of paths) {
      if (path.startsWith("test/") || path.includes("tsbuildinfo")) throw new Error(`${manifest.name}: ships ${path}`)
    }
    files[manifest.name] = join(tarballs, packed!.filename)
    const { stderr } = runBoth(npm, ["publish", "--dry-run"], dir)
    // expected without credentials; any other warning fails the check
    const warnings = stderr.split("\n").filter((line) =>
      line.startsWith("npm warn") && !line.includes("requires you to be logged in")
    )
    if (warnings.length > 0) throw new Error(`npm publish --dry-run for ${manifest.name} warned:\n${warnings.join("\n")}`)
    console.log(`  ${manifest.name}: ${packed!.files.length} files, publish --dry-run ok`)
  }

  step(`install the tarballs into ${app}`)
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "packed-app", private: true, type: "module" }, null, 2))
  // the program, its test and its two tsconfigs live in scripts/packed-app (type-checked with the project too)
  cpSync(join(import.meta.dirname, "packed-app"), app, { recursive: true })
  const install = runBoth(npm, [
    "install",
    "--no-audit",
    "--no-fund",
    ...packages.map((name) => files[`@effect-harness/${name}`]!),
    "effect@~4.1.0",
    "@effect/platform-node@~4.1.0",
    "-D",
    "@effect/vitest@^4.0.5",
    "vitest@^5.1.1",
    "typescript@~5.9.3",
    "@types/node@^24"
  ], app)
  const peerWarnings = install.stderr.split("\n").filter((line) => /peer|ERESOLVE|conflict/i.test(line))
  if (peerWarnings.length > 0) throw new Error(`peer dependency warnings on install:\n${peerWarnings.join("\n")}`)
  // exits non-zero on a missing or invalid (peer) dependency
  run(npm, ["ls", "--all"], app)
  const versions = JSON.parse(run(npm, ["ls", "--json", "--depth=0"], app)).dependencies as Record<
    string,
    { version: string }
  >
  console.log(`  ${Object.entries(versions).map(([name, { version }]) => `${name}@${version}`).join(", ")}`)

  const tsc = join(app, "node_modules", "typescript", "bin", "tsc")
  step("type-check and compile under module: nodenext")
  run(process.execPath, [tsc, "-p", "tsconfig.json"], app)
  step("type-check under moduleResolution: bundler")
  run(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], app)

  const expected = `{"category":"billing","urgent":true}`
  step(`run src/main.ts on Node ${process.version}`)
  const onCurrent = run(process.execPath, ["src/main.ts"], app).trim()
  if (onCurrent !== `offline ${expected}\nopenai ${expected}\nworkflow ${expected}`) {
    throw new Error(`unexpected output:\n${onCurrent}`)
  }
  console.log(`  ${onCurrent.replace(/\n/g, "\n  ")}`)

  if (existsSync(systemNode)) {
    const version = run(systemNode, ["--version"], app).trim()
    step(`run the compiled dist/src/offline.js on the system Node ${version}`)
    const onSystem = run(systemNode, ["dist/src/offline.js"], app).trim()
    if (onSystem !== `offline ${expected}`) throw new Error(`unexpected output:\n${onSystem}`)
    console.log(`  ${onSystem}`)
  } else if (process.env["CI"] === "true") {
    throw new Error(`no system Node at ${systemNode} (set SYSTEM_NODE)`)
  } else {
    console.log(`\ncheck-packages: no system Node at ${systemNode}, skipping the Node 20 run`)
  }

  step("an @effect/vitest test swapping the model layer")
  run(process.execPath, [join(app, "node_modules", "vitest", "vitest.mjs"), "run"], app)
  console.log(`  passed`)

  console.log(`\ncheck-packages: ok in ${((Date.now() - started) / 1000).toFixed(0)} s`)
} finally {
  if (process.env["KEEP_APP"] === "1") console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
