// Run the core's self-test (refbackprop.selftest.main) on Pyodide or MicroPython
// under Node, offline, from the packages in node_modules (pinned in
// package-lock.json).  Their own command lines always exit 0, so this maps an
// uncaught exception or a failed self-test to a non-zero exit status.
//
//   node portability/selftest.mjs pyodide|micropython
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const core = join(here, "..", "refbackprop");
const runtime = process.argv[2];

// The core's modules: every .py file of refbackprop/ (not its subpackages,
// which need pytest or packaging metadata).
function coreFiles() {
  return readdirSync(core).filter((f) => f.endsWith(".py"))
    .map((f) => [f, readFileSync(join(core, f), "utf8")]);
}

function install(FS, root) {
  try { FS.mkdir(root); } catch (e) { /* exists */ }
  FS.mkdir(root + "/refbackprop");
  for (const [name, text] of coreFiles()) FS.writeFile(root + "/refbackprop/" + name, text);
}

const SCRIPT = `
import sys
if "/corelib" not in sys.path:
    sys.path.insert(0, "/corelib")
import refbackprop.selftest as _t
if sys.implementation.name == "micropython":
    print("runtime: MicroPython %s" % ".".join(str(v) for v in sys.implementation.version[:3]))
print("python: %s %s" % (sys.implementation.name, sys.version.split()[0]))
_rc = _t.main()
`;

async function main() {
  let rc;
  if (runtime === "pyodide") {
    const { loadPyodide } = await import("pyodide");
    const py = await loadPyodide({ stdout: (s) => console.log(s), stderr: (s) => console.error(s) });
    install(py.FS, "/corelib");
    console.log(`runtime: Pyodide ${py.version}`);
    py.runPython(SCRIPT);
    rc = py.globals.get("_rc");
  } else if (runtime === "micropython") {
    const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript/micropython.mjs");
    const mp = await loadMicroPython({ stdout: (s) => console.log(s), stderr: (s) => console.error(s),
                                       heapsize: 64 * 1024 * 1024 });
    install(mp.FS, "/corelib");
    mp.runPython(SCRIPT);
    rc = mp.globals.get("_rc");
  } else {
    console.error("usage: node selftest.mjs pyodide|micropython");
    process.exit(2);
  }
  process.exit(rc === 0 ? 0 : 1);
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
