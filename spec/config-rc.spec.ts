/**
 * The rc file (lib/config/rc.ts) and the configuration merge (`resolveConfig` in
 * lib/config/configure.ts), in process: reading, checking, atomic writing, profile
 * chains, key values, and AEMP's precedence (arguments < top level < profile chain,
 * `force`, `norc`). Every file lives in a temp directory.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { resolveConfig } from "../lib/config/configure.ts";
import { type RcData, formatRc, profileChain, rcLocation, rcPath, readRc, valueFromArgument, writeRc } from "../lib/config/rc.ts";
import { ConfigError } from "../lib/errors.ts";
import { throwsSync } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "aemp-config-rc-"));
let n = 0;
const file = (): string => join(dir, `rc${++n}.json`);

test.after(() => rmSync(dir, { recursive: true, force: true }));

const sample: RcData = {
  version: 1,
  secret: "top-secret",
  seeds: ["127.0.0.1:4040"],
  monitor_timeout: 10,
  profile: {
    base: { connect_interval: 3, binds: ["127.0.0.1:*"] },
    seed: { parent: "base", binds: ["*:4040"], nodeid: "seed" },
    loop1: { parent: "loop2" },
    loop2: { parent: "loop1" },
    orphan: { parent: "gone" },
  },
};

test("rc - the path is $AEMP_RC, else ~/.aemp.json, else Perl's file if one exists", () => {
  const saved = { AEMP_RC: process.env.AEMP_RC, HOME: process.env.HOME, PERL_ANYEVENT_MP_RC: process.env.PERL_ANYEVENT_MP_RC };
  const home = mkdtempSync(join(dir, "home-"));
  try {
    process.env.HOME = home;
    delete process.env.PERL_ANYEVENT_MP_RC;
    process.env.AEMP_RC = "/x/y.json";
    assert.equal(rcLocation(), { path: "/x/y.json", source: "$AEMP_RC" });
    process.env.AEMP_RC = "";
    assert.is(rcPath(), join(home, ".aemp.json"), "nothing exists: ours (where a new file goes)");
    delete process.env.AEMP_RC;
    // A Perl user's file, and no ~/.aemp.json: Perl's is read.
    writeFileSync(join(home, ".perl-anyevent-mp"), JSON.stringify({ version: 1, secret: "perl secret", profile: { seed: { binds: ["*:4040"] } } }));
    assert.equal(rcLocation(), { path: join(home, ".perl-anyevent-mp"), source: "~/.perl-anyevent-mp (Perl's; ~/.aemp.json does not exist)" });
    assert.is(resolveConfig({ profile: "seed" }).values.secret, "perl secret");
    // $PERL_ANYEVENT_MP_RC wins over ~/.perl-anyevent-mp, when that file exists.
    const perlEnv = join(home, "perl-rc.json");
    process.env.PERL_ANYEVENT_MP_RC = perlEnv;
    assert.is(rcPath(), join(home, ".perl-anyevent-mp"), "$PERL_ANYEVENT_MP_RC names no file yet");
    writeFileSync(perlEnv, "{}");
    assert.equal(rcLocation(), { path: perlEnv, source: "$PERL_ANYEVENT_MP_RC (Perl's; ~/.aemp.json does not exist)" });
    // Our own file, once it exists, wins.
    writeFileSync(join(home, ".aemp.json"), "{}");
    assert.equal(rcLocation(), { path: join(home, ".aemp.json"), source: "~/.aemp.json" });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("rc - a missing or empty file is an empty configuration", () => {
  assert.equal(readRc(join(dir, "none.json")), { version: 1 });
  const f = file();
  writeFileSync(f, "  \n");
  assert.equal(readRc(f), { version: 1 });
});

test("rc - a corrupt file is an error naming the file", () => {
  const f = file();
  writeFileSync(f, '{"version":1, "secret": ');
  const err = throwsSync(() => readRc(f), { instanceOf: ConfigError, code: "ERR_CONFIG" }) as ConfigError;
  assert.ok(err.message.includes(f) && err.message.includes("not valid JSON"), err.message);
  assert.is(err.file, f);
});

test("rc - a file with the wrong layout is an error naming the file", () => {
  for (const [text, why] of [
    ["[1,2]", "top level must be a JSON object"],
    ['{"version":2}', "version 2 is not supported"],
    ['{"version":1,"profile":[]}', '"profile" must be an object'],
    ['{"version":1,"profile":{"a":3}}', "profile 'a' must be an object"],
    ['{"version":1,"profile":{"a":{"parent":7}}}', "profile 'a'"],
  ]) {
    const f = file();
    writeFileSync(f, text);
    const err = throwsSync(() => readRc(f), ConfigError) as Error;
    assert.ok(err.message.includes(f) && err.message.includes(why), `${text}: ${err.message}`);
  }
});

test("rc - an unreadable file is an error naming the file, not a default", () => {
  const d = join(dir, "a-directory.json");
  mkdirSync(d);
  const err = throwsSync(() => readRc(d), ConfigError) as Error;
  assert.match(err.message, /cannot read the aemp rc file .*a-directory\.json: it is a directory/);
  if (process.getuid?.() !== 0) {
    const f = file();
    writeFileSync(f, "{}");
    chmodSync(f, 0o000);
    throwsSync(() => readRc(f), /permission denied/);
  }
});

test("rc - Perl's string values are accepted and unknown keys kept", () => {
  const f = file();
  writeFileSync(f, JSON.stringify({ version: 1, monitor_timeout: "12", nodelay: "0", autocork: 1 }));
  const rc = readRc(f);
  assert.is(rc.autocork, 1);
  const r = resolveConfig({ profile: "p" }, { data: rc, path: f });
  assert.is(r.values.monitor_timeout, 12);
  assert.is(r.values.nodelay, false);
  assert.is(r.values.autocork, 1);
});

test("rc - writing is atomic, mode 0600, with a backup, in Perl's layout", () => {
  const f = join(dir, "sub", "dir", "aemp.json");
  writeRc({ version: 1, secret: "one", profile: { b: { z: 1, a: 2 } } }, f);
  assert.is(statSync(f).mode & 0o777, 0o600);
  assert.not.ok(existsSync(`${f}.bak`));
  assert.is(readFileSync(f, "utf8"), formatRc({ profile: { b: { a: 2, z: 1 } }, secret: "one", version: 1 }));
  assert.is(readFileSync(f, "utf8"), '{\n   "profile" : {\n      "b" : {\n         "a" : 2,\n         "z" : 1\n      }\n   },\n   "secret" : "one",\n   "version" : 1\n}\n');
  writeRc({ version: 1, secret: "two" }, f);
  assert.is(readRc(f).secret, "two");
  assert.is(readRc(`${f}.bak`).secret, "one");
  assert.is(statSync(`${f}.bak`).mode & 0o777, 0o600);
  // No temporary file is left behind.
  assert.equal(readdirSync(join(dir, "sub", "dir")).sort(), ["aemp.json", "aemp.json.bak"]);
});

test("rc - a symlinked file is updated where it points", () => {
  const real = file();
  writeRc({ version: 1, secret: "a" }, real);
  const link = join(dir, "link.json");
  symlinkSync(real, link);
  writeRc({ version: 1, secret: "b" }, link);
  assert.ok(statSync(link).isFile());
  assert.is(readRc(real).secret, "b");
});

test("rc - profile chains: root first, missing parent and loops are errors", () => {
  assert.equal(profileChain(sample, "seed", "F").map((p) => p.name), ["base", "seed"]);
  assert.equal(profileChain(sample, "nope", "F"), []);
  throwsSync(() => profileChain(sample, "orphan", "F"), /profile 'orphan' in F has parent 'gone', which does not exist/);
  throwsSync(() => profileChain(sample, "loop1", "F"), /loop: loop1 -> loop2 -> loop1/);
});

test("rc - command-line values are checked and stored as Perl stores them", () => {
  assert.is(valueFromArgument("monitor_timeout", "2.5"), 2.5);
  assert.is(valueFromArgument("nodelay", "off"), 0);
  assert.is(valueFromArgument("secure", "true"), 1);
  assert.equal(valueFromArgument("framing_format", '["json"]'), ["json"]);
  assert.equal(valueFromArgument("seeds", "a:1, b:2"), ["a:1", "b:2"]);
  assert.equal(valueFromArgument("binds", "*:*,127.0.0.1:4040"), ["*:*", "127.0.0.1:4040"]);
  assert.equal(valueFromArgument("seeds", ""), []);
  throwsSync(() => valueFromArgument("monitor_timeout", "soon"), /'monitor_timeout' must be a positive number of seconds, received "soon"/);
  throwsSync(() => valueFromArgument("seeds", "host:*"), /'seeds' must be a list of host:port/);
  throwsSync(() => valueFromArgument("framing_format", "[json"), /'framing_format' must be a list/);
  throwsSync(() => valueFromArgument("nodeid", "a#b"), /without '#'/);
  throwsSync(() => valueFromArgument("colour", "red"), /unknown configuration key 'colour'/);
});

test("configure merge - arguments < top level < parent < profile", () => {
  const r = resolveConfig({ profile: "seed", secret: "arg", binds: ["1.2.3.4:1"], connect_interval: 9, max_packet_size: 1000 }, { data: sample, path: "F" });
  assert.is(r.profile, "seed");
  assert.equal(r.chain, ["base", "seed"]);
  assert.is(r.values.secret, "top-secret");
  assert.equal(r.values.binds, ["*:4040"]);
  assert.is(r.values.connect_interval, 3);
  assert.is(r.values.max_packet_size, 1000);
  assert.is(r.values.nodeid, "seed");
  assert.not.ok("parent" in r.values);
  assert.equal(r.origins, { secret: "top level", binds: "profile 'seed'", connect_interval: "profile 'base'", max_packet_size: "argument", seeds: "top level", monitor_timeout: "top level", nodeid: "profile 'seed'" });
});

test("configure merge - force makes the arguments win, norc ignores the file", () => {
  const forced = resolveConfig({ profile: "seed", secret: "arg", force: true }, { data: sample, path: "F" });
  assert.is(forced.values.secret, "arg");
  assert.equal(forced.values.binds, ["*:4040"]);
  const norc = resolveConfig({ profile: "seed", secret: "arg", norc: true });
  assert.is(norc.file, null);
  assert.equal(norc.values, { secret: "arg" });
});

test("configure merge - the profile defaults to the host name; null resets a key to its default", () => {
  const data: RcData = { version: 1, seeds: ["a:1"], profile: { [hostname()]: { seeds: null, nodeid: "mine" } } };
  const r = resolveConfig({ seeds: ["b:2"] }, { data, path: "F" });
  assert.is(r.profile, hostname());
  assert.is(r.values.nodeid, "mine");
  assert.not.ok("seeds" in r.values);
});

test("configure merge - a bad value in the file names the file and the profile", () => {
  const data: RcData = { version: 1, profile: { p: { monitor_timeout: "soon" } } };
  const err = throwsSync(() => resolveConfig({ profile: "p" }, { data, path: "/etc/x.json" }), ConfigError) as ConfigError;
  assert.is(err.message, `profile 'p' in /etc/x.json: 'monitor_timeout' must be a positive number of seconds, found "soon"`);
  assert.is(err.file, "/etc/x.json");
});

test.run();
