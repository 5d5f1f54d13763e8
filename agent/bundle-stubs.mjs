// Code paths of dependencies the agent never takes, replaced in dist/lifeboat.mjs (agent/build.mjs)
// by stubs that throw if ever called. Each entry says why the path is unreachable, from the
// dependency's own source; test/bundle/stubs.test.ts runs the bundled paths the agent does take.
//
// An entry: [what is imported (a regex on the import's text), by which package (a part of the
// importer's path, or a regex on it), the stub]. The stub is either the list of the members it
// exports (each one throws; a CommonJS stub is itself that throwing function) or the module's text,
// made by a function of `fail` (the text of a `fail` function that throws). A module's text may
// import the real module's neighbours by the paths the real one uses: it resolves from the
// importer's folder. Where a path the agent takes runs through a stubbed module, its text does
// exactly what the real one does on that path (said at the entry).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const EXECA = "/node_modules/execa/lib/";
const toadCacheEsm = join(dirname(createRequire(import.meta.url).resolve("toad-cache")), "toad-cache.mjs");
const execaCreate = join(dirname(createRequire(import.meta.url).resolve("execa")), "lib/methods/create.js");

/** What fastify's lib/warnings.js exports (test/bundle/stubs.test.ts compares with the installed one). */
export const FASTIFY_WARNINGS = [
  "FSTWRN001",
  "FSTWRN003",
  "FSTWRN004",
  "FSTSEC001",
  "FSTSEC002",
  "FSTSEC003",
  "FSTDEP022",
  "FSTDEP023",
  "FSTDEP024",
  "FSTDEP025",
];

export const STUBS = [
  // pino transports: worker threads loading lib/worker.js, a runtime file lookup.
  [/^thread-stream$/, "/node_modules/pino/", []],
  [/[\\/]transport(\.js)?$/, "/node_modules/pino/", []],
  // pino.multistream (pino.js exports it; pino itself uses it only in lib/worker.js, the transports'
  // worker): the agent logs to one destination (agent/src/logger.ts).
  [/^\.\/lib\/multistream$/, "/node_modules/pino/", []],
  // on-exit-leak-free: pino registers a destination with it only when the destination is not
  // synchronous (lib/tools.js buildSafeSonicBoom); the agent's is (agent/src/logger.ts: sync: true).
  [/^on-exit-leak-free$/, "/node_modules/pino/", ["register", "unregister"]],
  // toad-cache is one CommonJS file of nine caches, bundled whole when required; fastify takes one,
  // FifoMap (lib/content-type-parser.js, lib/content-type.js: "const { FifoMap: Fifo } =
  // require('toad-cache')"). The same class from the package's ES module build, the others left out.
  [
    /^toad-cache$/,
    "/node_modules/fastify/",
    () => `export { FifoMap } from ${JSON.stringify(toadCacheEsm)};`,
  ],
  // fastify's default schema compilers (ajv, fast-json-stringify's factory): fastify loads them only
  // when no compilers are given, and agent/src/http/compilers.ts gives its own. light-my-request:
  // `app.inject`, used by tests only.
  [
    /^(@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|light-my-request)$/,
    "/node_modules/fastify/",
    [],
  ],
  // fast-json-stringify's ajv bridge (built only for response unions, which compilers.ts rewrites
  // away or refuses) and its standalone code generator.
  [/^\.\/lib\/(validator|standalone)$/, "/node_modules/fast-json-stringify/", []],
  // fast-json-stringify's meta-validation of each response schema (an ajv-generated validator of
  // JSON Schema itself): agent/prebuild.ts has compiled every schema of the bundle through the real
  // one at build time.
  [
    /^\.\/lib\/schema-validator$/,
    "/node_modules/fast-json-stringify/",
    () => "module.exports = function () { return true; };",
  ],
  // fast-json-stringify's schema merger (@fastify/merge-json-schemas, through lib/merge-schemas.js;
  // index.js imports MergeError from it too): used for allOf, a $ref with keywords beside it,
  // anyOf/oneOf options and if/then/else (index.js mergeLocations). agent/src/http/compilers.ts
  // refuses every one of those before fast-json-stringify sees a schema, and agent/prebuild.ts
  // compiles every route's serializer through it at build time.
  [
    /^(@fastify\/merge-json-schemas|\.\/lib\/merge-schemas)$/,
    "/node_modules/fast-json-stringify/",
    (fail) =>
      `${fail}\nclass MergeError extends Error {}\nmodule.exports = Object.assign(fail, { mergeSchemas: fail, MergeError });`,
  ],
  // fast-json-stringify's projection: used only with `objectMechanism: 'native'` on V8 ≥ 13.8
  // (Node 25+: lib/v8.js); compilers.ts passes no options, and the agent runs on Node 20 and 22.
  [/^\.\/lib\/projection$/, "/node_modules/fast-json-stringify/", ["buildProjection"]],
  // TypeBox's template literal types (type/template-literal/): the agent's schemas have none
  // (agent/src/http/typebox.ts has no TemplateLiteral builder). Type.Record reaches them only for a
  // template literal key (type/record/record.mjs FromTemplateLiteralKey; the agent's keys are
  // strings) and index keys only for a template literal member (type/indexed/indexed-property-keys.mjs).
  [
    /^\.\.\/template-literal\/index\.mjs$/,
    /[\\/]@sinclair[\\/]typebox[\\/]build[\\/]esm[\\/]type[\\/](record|indexed)[\\/]/,
    ["IsTemplateLiteralFinite", "TemplateLiteralGenerate"],
  ],
  // TypeBox's value hashing (value/hash/): its checks call Hash only for `uniqueItems: true`
  // (errors/errors.mjs, value/check/check.mjs; compiler/compiler.mjs, not in the bundle), which
  // agent/src/http/compilers.ts refuses in every schema it compiles.
  [
    /^(\.\.\/value|\.\.)\/hash\/index\.mjs$/,
    /[\\/]@sinclair[\\/]typebox[\\/]build[\\/]esm[\\/](compiler|errors|value[\\/]check)[\\/]/,
    ["Hash"],
  ],
  // fast-querystring's stringify (and its encoder, lib/internals/querystring.js): find-my-way, its
  // one user in the bundle, only parses (index.js querystringParser: querystring.parse).
  [/^\.\/stringify$/, "/node_modules/fast-querystring/lib/", []],
  // fastify's `semver` (gt, coerce, satisfies): used only to check a registered plugin's declared
  // fastify version (plugin-utils.js checkVersion, for plugins with meta.fastify); the bundle
  // registers no plugin (@fastify/swagger runs in agent/prebuild.ts only).
  [/^semver$/, "/node_modules/fastify/", ["gt", "coerce", "satisfies"]],
  // fastify's `@fastify/proxy-addr` (and ipaddr.js under it): used only with a `trustProxy` option
  // (request.js buildRequestWithTrustProxy); both servers set `trustProxy: false`.
  [/^@fastify\/proxy-addr$/, "/node_modules/fastify/", ["all", "compile"]],
  // fastify's warnings (lib/warnings.js; process-warning stays, pino uses it too): each is emitted only while routes,
  // content-type parsers, error handlers or listen callbacks are registered, for uses the agent has
  // none of (deprecated route options, a missing request-part schema, a header schema with $ref,
  // async + callback styles; fastify.js, route.js, validation.js, content-type-parser.js, server.js);
  // a warning still reaches process.emitWarning with its code, without the long English text.
  [
    /^\.\/(lib\/)?warnings(\.js)?$/,
    "/node_modules/fastify/",
    () =>
      `const w = (code) => (...a) => process.emitWarning(\`\${code} \${a.join(" ")}\`, "FastifyWarning", code);\n` +
      `module.exports = Object.fromEntries(${JSON.stringify(FASTIFY_WARNINGS)}.map((c) => [c, w(c)]));`,
  ],
  // find-my-way checks its own three constant patterns with safe-regex2 (and ret, its regex parser)
  // when it loads — the real check runs in the tests, unbundled — and then only routes with regex
  // parameters, which the agent has none of: after those three calls the stub throws.
  [
    /^safe-regex2$/,
    "/node_modules/find-my-way/",
    (fail) =>
      `${fail}\nlet loadChecks = 3;\nmodule.exports = function () { if (loadChecks > 0) { loadChecks--; return true; } return fail(); };`,
  ],
  // find-my-way's route compiler (lib/compiler.js: each method's tree as generated JavaScript),
  // run only by Router.compile(), which fastify calls only with `routerOptions: { compile: true }`
  // (fastify.js, on preReady); neither server sets it, so lookups walk the trees.
  [/^\.\/lib\/compiler$/, "/node_modules/find-my-way/", ["compileTree"]],

  // get-stream's ponyfill of a web ReadableStream's async iterator (source/stream.js), for
  // runtimes whose ReadableStream has none; Node's has one (and execa reads Node streams).
  [
    /^@sec-ant\/readable-stream\/ponyfill$/,
    "/node_modules/get-stream/",
    (fail) => `${fail}\nexport { fail as asyncIterator };`,
  ],

  // ── execa: agent/src/system/real.ts is its one user. It calls `execa(file, args, options)` (no
  // template string, no bound options) with reject, timeout, input (a string), stripFinalNewline,
  // env, extendEnv, forceKillAfterDelay, killSignal, cancelSignal, maxBuffer and buffer: false; it
  // reads the result's stdout, stderr, exitCode, signal, timedOut, isMaxBuffer, failed, cause and
  // message, and the subprocess's stdout, stderr, pid, kill() and its promise. Nothing else.
  //
  // Its entry point (index.js) builds every method at load: execaSync, execaCommand, execaNode, `$`
  // and the IPC exports of a subprocess. The agent imports `execa` only: it gets `execa`, made as
  // index.js makes it, and nothing else of index.js (whoever imports it: in the agent, real.ts).
  [
    /^execa$/,
    "",
    () =>
      `import { createExeca } from ${JSON.stringify(execaCreate)};\nexport const execa = createExeca(() => ({}));`,
  ],
  // methods/create.js: the synchronous core runs only for execaSync/$.sync (`isSync` from the
  // method's mapArguments; execa's gives none); template strings (execa\`cmd\`) are parsed only
  // when the first argument is one (the test is kept as it is).
  [/^\.\/main-sync\.js$/, `${EXECA}methods/`, (fail) => `${fail}\nexport { fail as execaCoreSync };`],
  [
    /^\.\/template\.js$/,
    `${EXECA}methods/`,
    (fail) =>
      `${fail}\nexport const isTemplateString = (templates) => Array.isArray(templates) && Array.isArray(templates.raw);\nexport { fail as parseTemplates };`,
  ],
  // methods/main-async.js gives every subprocess .pipe() (pipe/setup.js), .readable(), .writable(),
  // .duplex(), .iterable() and [Symbol.asyncIterator] (convert/add.js) and the IPC methods
  // sendMessage, getOneMessage, getEachMessage (ipc/methods.js): the agent calls none of them. Here
  // they exist and throw.
  [/^\.\.\/pipe\/setup\.js$/, `${EXECA}methods/`, (fail) => `${fail}\nexport { fail as pipeToSubprocess };`],
  [
    /^\.\.\/convert\/add\.js$/,
    `${EXECA}methods/`,
    (fail) =>
      `${fail}\nexport const addConvertedStreams = (subprocess) => { Object.assign(subprocess, { readable: fail, writable: fail, duplex: fail, iterable: fail }); subprocess[Symbol.asyncIterator] = fail; };`,
  ],
  [
    /^\.\.\/ipc\/methods\.js$/,
    `${EXECA}methods/`,
    (fail) =>
      `${fail}\nexport const addIpcMethods = (subprocess) => { Object.assign(subprocess, { sendMessage: fail, getOneMessage: fail, getEachMessage: fail }); };`,
  ],
  // IPC runs only with `ipc: true` (or `ipcInput`, `gracefulCancel`, execaNode: arguments/options.js
  // addDefaultOptions, methods/node.js); the agent sets none of them, so `ipc` is false and
  // `ipcInput` undefined, the cases kept here as the real modules handle them.
  [
    /^\.\.\/ipc\/ipc-input\.js$/,
    EXECA,
    (fail) =>
      `${fail}\nexport const validateIpcInputOption = ({ ipcInput }) => { if (ipcInput !== undefined) fail(); };\nexport const sendIpcInput = async (subprocess, ipcInput) => { if (ipcInput !== undefined) fail(); };`,
  ],
  [
    /^\.\.\/ipc\/buffer-messages\.js$/,
    `${EXECA}resolve/`,
    (fail) =>
      `${fail}\nexport const waitForIpcOutput = async ({ ipc, ipcOutput }) => (ipc ? fail() : ipcOutput);\nexport const getBufferedIpcOutput = async (ipcOutputPromise, ipcOutput) => { await Promise.allSettled([ipcOutputPromise]); return ipcOutput; };`,
  ],
  // terminate/graceful.js sends the abort over IPC only with `gracefulCancel` (which needs `ipc`).
  [/^\.\.\/ipc\/graceful\.js$/, `${EXECA}terminate/`, (fail) => `${fail}\nexport { fail as sendAbort };`],
  // Verbose mode (the `verbose` option, or NODE_DEBUG=execa: arguments/specific.js): the agent logs
  // each command itself (pino). Off, as the agent leaves it, nothing is printed: the real checks
  // (verbose/values.js) decide, and when on, the first log of a command throws (as the stubbed
  // `figures` did before: verbose mode has never worked in the bundle).
  [
    /^\.\.\/verbose\/(start|complete)\.js$/,
    `${EXECA}`,
    (fail) =>
      `import { isVerbose } from "../verbose/values.js";\n${fail}\nconst log = (what, verboseInfo) => { if (isVerbose(verboseInfo)) fail(); };\nexport { log as logCommand, log as logResult };`,
  ],
  [
    /^\.\.\/verbose\/output\.js$/,
    `${EXECA}io/`,
    (fail) =>
      `import { isFullVerbose } from "../verbose/values.js";\n${fail}\nexport const shouldLogOutput = ({ verboseInfo, fdNumber }) => (isFullVerbose(verboseInfo, fdNumber) ? fail() : false);\nexport { fail as logLines };`,
  ],
  // Transforms: generator, duplex or web-stream values of the stdin/stdout/stderr options (the
  // agent passes none: stdio/type.js TRANSFORM_TYPES). Without one, normalizeTransforms returns the
  // items as they are and the descriptor is not in object mode (transform/object-mode.js).
  [
    /^\.\.\/transform\/(normalize|object-mode)\.js$/,
    `${EXECA}stdio/`,
    (fail) =>
      `import { TRANSFORM_TYPES } from "./type.js";\n${fail}\nconst none = (stdioItems) => { if (stdioItems.some(({ type }) => TRANSFORM_TYPES.has(type))) fail(); };\nexport const normalizeTransforms = (stdioItems) => { none(stdioItems); return [...stdioItems]; };\nexport const getFdObjectMode = (stdioItems) => { none(stdioItems); return false; };`,
  ],
  [
    /^\.\.\/transform\/generator\.js$/,
    `${EXECA}stdio/`,
    (fail) => `${fail}\nexport { fail as generatorToStream };`,
  ],
  // Lines are split only with the `lines` option (io/iterate.js: `skipped` unless it is set).
  [
    /^\.\.\/transform\/split\.js$/,
    `${EXECA}io/`,
    (fail) =>
      `${fail}\nexport const getSplitLinesGenerator = (binary, preserveNewlines, skipped) => (binary || skipped ? undefined : fail());`,
  ],
  // cross-spawn: execa calls only its `_parse` (arguments/options.js), which on anything but Windows
  // clones the arguments and options and returns them (cross-spawn/lib/parse.js, parseNonShell).
  [
    /^cross-spawn$/,
    EXECA,
    (fail) =>
      [
        fail,
        "export default { _parse(command, args, options) {",
        '  if (process.platform === "win32") fail();',
        "  if (args && !Array.isArray(args)) { options = args; args = null; }",
        "  args = args ? args.slice(0) : [];",
        "  options = Object.assign({}, options);",
        "  return { command, args, options, file: undefined, original: { command, args } };",
        "} };",
      ].join("\n"),
  ],
  // npm-run-path: only with the `preferLocal` or `node` option (arguments/options.js getEnv).
  [/^npm-run-path$/, EXECA, (fail) => `${fail}\nexport { fail as npmRunPathEnv };`],
];

/** The esbuild plugin that puts the stubs in place. */
export const stubs = {
  name: "lifeboat-stubs",
  setup(b) {
    for (const [index, [filter, importer]] of STUBS.entries())
      b.onResolve({ filter }, (args) =>
        (typeof importer === "string" ? args.importer.includes(importer) : importer.test(args.importer))
          ? {
              // One module per stubbed file (two importers of one file share it), named by its
              // path under node_modules.
              path: args.path.startsWith(".")
                ? join(args.resolveDir, args.path).replace(/.*[\\/]node_modules[\\/]/, "")
                : args.path,
              namespace: "stub",
              pluginData: { index, resolveDir: args.resolveDir },
            }
          : undefined,
      );
    b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => {
      const stub = STUBS[args.pluginData.index][2];
      const fail = `const fail = function () { throw new Error(${JSON.stringify(`${args.path} is not available in the lifeboat bundle`)}); };`;
      if (typeof stub === "function")
        return { loader: "js", contents: stub(fail), resolveDir: args.pluginData.resolveDir };
      return {
        loader: "js",
        contents: args.path.endsWith(".mjs")
          ? `${fail}\nexport { ${stub.map((m) => `fail as ${m}`).join(", ")} };`
          : `${fail}\nmodule.exports = Object.assign(fail, { ${stub.map((m) => `${m}: fail`).join(", ")} });`,
      };
    });
  },
};
