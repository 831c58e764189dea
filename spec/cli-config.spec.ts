/**
 * `aemp` configuration commands, run as a child process against a private rc file:
 * secrets, node IDs, seeds, binds, services, profiles and parents, the protocol keys
 * (`set`/`del` and AEMP's `setKEY`/`delKEY`), `showprofile`, `showconfig`, chaining,
 * and the error cases (one line, exit 1, file untouched), plus `help`.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type TempRc, aemp, aempOk, stopAll, tempRc } from "./cli-helpers.ts";

let rc: TempRc;

test.before.each(() => {
  rc = tempRc();
});
test.after.each(() => rc.cleanup());
test.after(() => stopAll());

/** Expects a failure: exit `code` (1; 2 for usage errors) and exactly one line on stderr matching `pattern`. */
async function fails(args: string[], pattern: RegExp, r?: TempRc, code = 1): Promise<void> {
  const res = await aemp(r ?? rc, args);
  assert.is(res.code, code, `exit code of aemp ${args.join(" ")}: ${res.stderr}`);
  assert.is(res.stderr.trimEnd().split("\n").length, 1, `one line: ${res.stderr}`);
  assert.match(res.stderr.trimEnd(), pattern);
}

test("cli gensecret - creates the rc file, mode 0600, a new random secret each time, backup kept", async () => {
  await aempOk(rc, ["gensecret"]);
  const first = rc.read();
  assert.is(first.version, 1);
  assert.match(first.secret, /^[A-Za-z0-9_-]{43}$/);
  assert.is(statSync(rc.path).mode & 0o777, 0o600);
  await aempOk(rc, ["gensecret"]);
  assert.is.not(rc.read().secret, first.secret);
  assert.is(JSON.parse(readFileSync(`${rc.path}.bak`, "utf8")).secret, first.secret);
});

test("cli setsecret/delsecret - set and remove; --rc names another file", async () => {
  await aempOk(rc, ["setsecret", "s3cret"]);
  assert.is(rc.read().secret, "s3cret");
  await aempOk(rc, ["delsecret"]);
  assert.equal(rc.read(), { version: 1 });
  const other = join(rc.dir, "other.json");
  await aempOk(rc, ["--rc", other, "setsecret", "x"]);
  assert.is(JSON.parse(readFileSync(other, "utf8")).secret, "x");
  assert.equal(rc.read(), { version: 1 });
  await fails(["setsecret", ""], /^aemp setsecret: the secret must not be empty/);
});

test("cli profile - commands chain, the tutorial's seed profile, in Perl's file layout", async () => {
  await aempOk(rc, ["profile", "seed", "setbinds", "*:4040", "setseeds", "127.0.0.1:4040"]);
  assert.equal(rc.read(), { version: 1, profile: { seed: { binds: ["*:4040"], seeds: ["127.0.0.1:4040"] } } });
  assert.is(readFileSync(rc.path, "utf8"), `{
   "profile" : {
      "seed" : {
         "binds" : [
            "*:4040"
         ],
         "seeds" : [
            "127.0.0.1:4040"
         ]
      }
   },
   "version" : 1
}
`);
  const shown = await aempOk(rc, ["showprofile", "seed"]);
  assert.equal(JSON.parse(shown), { binds: ["*:4040"], seeds: ["127.0.0.1:4040"] });
  // AEMP's tutorial spelling: `aemp profile seed binds ...`, `aemp seeds ...`.
  await aempOk(rc, ["seeds", "*:4040", "profile", "seed", "binds", "*:4041"]);
  assert.equal(rc.read().seeds, ["*:4040"]);
  assert.equal(rc.read().profile.seed.binds, ["*:4041"]);
});

test("cli lists - setseeds/addseed/delseed/delseeds, binds and services the same way", async () => {
  await aempOk(rc, [
    "setseeds", "a:1,b:2", "addseed", "c:3", "addseed", "a:1", "delseed", "b:2",
    "setbinds", '["*:4040"]', "addbind", "127.0.0.1:*", "delbind", "*:4040",
    "setservices", "x::,y", "addservice", "x::", "delservice", "y",
    "setnodeid", "n/%u",
  ]);
  const data = rc.read();
  assert.equal(data.seeds, ["a:1", "c:3"]);
  assert.equal(data.binds, ["127.0.0.1:*"]);
  assert.equal(data.services, ["x::", "x::"], "a service may run twice");
  assert.is(data.nodeid, "n/%u");
  await aempOk(rc, ["delservice", "x::", "delseeds", "delbinds", "delnodeid"]);
  assert.equal(rc.read(), { version: 1, services: ["x::"] });
  await aempOk(rc, ["delservices"]);
  assert.equal(rc.read(), { version: 1 });
});

test("cli lists - services as [name, args...], as Perl's aemp and the LogCatcher manual write them", async () => {
  await aempOk(rc, ["setservices", '[["mymod::myfun", 1, 2, 3], "plain::"]', "addservice", '["AnyEvent::MP::LogCatcher::catch", 9]', "addservice", "other"]);
  assert.equal(rc.read().services, [["mymod::myfun", 1, 2, 3], "plain::", ["AnyEvent::MP::LogCatcher::catch", 9], "other"]);
  await aempOk(rc, ["delservice", '["mymod::myfun", 1, 2, 3]', "delservice", "other"]);
  assert.equal(rc.read().services, ["plain::", ["AnyEvent::MP::LogCatcher::catch", 9]]);
  await fails(["setservices", '[[1, 2]]'], /^aemp setservices: 'services' must be a list of service names or \[name, args\.\.\.\] lists/);
  await fails(["delservice", '["nope"]'], /^aemp delservice: "\[\\"nope\\"\]" is not among the services/);
});

test("cli keys - set/del and setKEY/delKEY for the protocol options", async () => {
  await aempOk(rc, [
    "set", "monitor_timeout", "10", "setconnect_interval", "0.5",
    "set", "framing_format", '["json"]', "setauth_offer", '["hmac_sha3_512"]', "set", "auth_accept", "hmac_sha3_512,cleartext",
    "set", "nodelay", "off", "setsecure", "1", "set", "max_packet_size", "1000", "set", "module_roots", "lib",
  ]);
  const data = rc.read();
  assert.equal(data, {
    version: 1,
    monitor_timeout: 10,
    connect_interval: 0.5,
    framing_format: ["json"],
    auth_offer: ["hmac_sha3_512"],
    auth_accept: ["hmac_sha3_512", "cleartext"],
    nodelay: 0,
    secure: 1,
    max_packet_size: 1000,
    module_roots: [new URL("../lib", import.meta.url).pathname.replace(/\/$/, "")],
  });
  await aempOk(rc, ["del", "monitor_timeout", "delconnect_interval", "delframing_format", "del", "auth_offer", "delauth_accept", "delnodelay", "delsecure", "del", "max_packet_size", "delmodule_roots"]);
  assert.equal(rc.read(), { version: 1 });
});

test("cli setparent/delparent/delprofile - parents must exist, no loops, no orphans", async () => {
  await aempOk(rc, ["setsecret", "top", "profile", "base", "setmonitor_timeout", "5", "profile", "child", "setparent", "base", "setnodeid", "c/%u"]);
  assert.equal(rc.read().profile, { base: { monitor_timeout: 5 }, child: { parent: "base", nodeid: "c/%u" } });
  await fails(["profile", "base", "setparent", "child"], /^aemp setparent: profiles in .* inherit from each other in a loop: base -> child -> base/);
  await fails(["profile", "x", "setparent", "nope"], /^aemp setparent: there is no profile 'nope' in /);
  await fails(["setparent", "base"], /only a profile has a parent/);
  await fails(["delprofile", "base"], /profile 'base' is the parent of 'child'/);
  await aempOk(rc, ["profile", "child", "delparent", "delprofile", "base"]);
  assert.equal(rc.read().profile, { child: { nodeid: "c/%u" } });
  await fails(["delprofile", "base"], /there is no profile 'base' in .*\(profiles: child\)/);
  await fails(["showprofile", "base"], /there is no profile 'base'/);
});

test("cli showconfig - the merged configuration and where each value comes from", async () => {
  await aempOk(rc, ["setsecret", "top", "setseeds", "a:1", "profile", "base", "setmonitor_timeout", "5", "profile", "child", "setparent", "base", "setseeds", "b:2"]);
  const text = await aempOk(rc, ["showconfig", "child", "connect_interval", "7"]);
  assert.match(text, new RegExp(`^# rc file: ${rc.path} \\(\\$AEMP_RC\\)\n# profile 'child': arguments, then the top level, then profile 'base', then profile 'child' of `));
  assert.match(text, /\nseeds +\["b:2"\] +\(profile 'child'\)\n/);
  assert.match(text, /\nmonitor_timeout +5 +\(profile 'base'\)\n/);
  assert.match(text, /\nsecret +"<3 characters, hidden: --show-secret shows it>" +\(top level\)\n/);
  assert.not.ok(text.includes('"top"'), "the secret is masked");
  assert.match(await aempOk(rc, ["showconfig", "child", "--show-secret"]), /\nsecret +"top" +\(top level\)\n/);
  assert.match(text, /\nconnect_interval +7 +\(argument\)\n/);
  assert.match(text, /\nbinds +\["\*"\] +\(default\)\n/);
  const json = JSON.parse(await aempOk(rc, ["profile", "child", "showconfig", "--json"]));
  assert.is(json.nodeid, "child/");
  assert.equal(json.seeds, ["b:2"]);
  assert.is(json.monitor_timeout, 5);
  assert.is(json.secret, "<3 characters, hidden: --show-secret shows it>");
  const forced = JSON.parse(await aempOk(rc, ["showconfig", "child", "seeds", "c:3", "force", "1", "--json"]));
  assert.equal(forced.seeds, ["c:3"]);
  // Looking at a profile that does not exist does not create it.
  const typo = JSON.parse(await aempOk(rc, ["profile", "typo", "showconfig", "--json"]));
  assert.is(typo.nodeid, "typo/");
  assert.equal(Object.keys(rc.read().profile), ["base", "child"]);
  const norc = JSON.parse(await aempOk(rc, ["showconfig", "child", "norc", "1", "--json"]));
  assert.is(norc.secret, undefined);
  assert.is(norc.monitor_timeout, 30);
});

test("cli errors - one line, exit 1 (2 for usage errors), and a failed chain changes nothing", async () => {
  await aempOk(rc, ["setsecret", "keep"]);
  const before = readFileSync(rc.path, "utf8");
  await fails(["setseeds", "x:1", "setmonitor_timeout", "soon"], /^aemp setmonitor_timeout: 'monitor_timeout' must be a positive number of seconds, received "soon"$/);
  await fails(["addseed", "no-port"], /^aemp addseed: 'seeds' must be a list of host:port seed addresses/);
  await fails(["setseeds"], /^aemp setseeds: needs an argument: setseeds HOST:PORT,\.\.\. \(aemp help setseeds\)$/, undefined, 2);
  await fails(["delseed", "q:1"], /^aemp delseed: "q:1" is not among the seeds of the top level \(none\)$/);
  await fails(["set", "colour", "red"], /^aemp set: unknown configuration key 'colour'/);
  await fails(["set", "cert", "x"], /aemp setcert FILE/);
  await fails(["--bogus"], /^aemp: unknown option --bogus \(aemp help lists the commands\)$/, undefined, 2);
  await fails(["showconfig", "--bogus"], /^aemp showconfig: unknown option --bogus \(aemp help showconfig\)$/, undefined, 2);
  assert.is(readFileSync(rc.path, "utf8"), before);
});

test("cli errors - a corrupt rc file is named, never replaced by defaults", async () => {
  writeFileSync(rc.path, '{"version":1,"secret":');
  await fails(["setseeds", "a:1"], new RegExp(`^aemp setseeds: the aemp rc file ${rc.path} is not valid JSON`));
  await fails(["showconfig"], /is not valid JSON/);
  assert.is(readFileSync(rc.path, "utf8"), '{"version":1,"secret":');
});

test("cli help - overview, one command; no command or an unknown one is a one-line usage error (exit 2)", async () => {
  const overview = await aempOk(rc, ["help"]);
  for (const name of ["gensecret", "setcert", "addseed", "setparent", "showconfig", "monitor_timeout", "run [KEY VALUE...]", "snd", "cal", "mon", "nodes", "db", "dbmon", "trace", "ping"]) {
    assert.ok(overview.includes(name), `overview mentions ${name}`);
  }
  assert.ok(overview.includes(rc.path), "names the rc file");
  await fails([], /^Usage: aemp subcommand \.\.\. \(aemp help lists the commands\)$/, undefined, 2);
  const one = await aempOk(rc, ["help", "seeds"]);
  assert.match(one, /^Usage: aemp setseeds HOST:PORT,\.\.\.\n\nSet the seeds .*\nAlso spelled: seeds\.\n$/);
  await fails(["frobnicate"], /^aemp: unknown command 'frobnicate' \(aemp help lists the commands\)$/, undefined, 2);
  await fails(["help", "frobnicate"], /^aemp help: there is no command 'frobnicate'/, undefined, 2);
});

test.run();
