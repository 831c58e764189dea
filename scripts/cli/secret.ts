/** `gensecret`, `setsecret SECRET`, `delsecret`: the shared secret. */
import { randomBytes } from "node:crypto";
import { CliError, type Command } from "./command.ts";

export const gensecret: Command = {
  name: "gensecret",
  usage: "",
  summary: "set a new random shared secret",
  help: "Makes a random secret (256 bits, base64url) and stores it. Every node of a network\nneeds the same secret: copy the rc file to the other machines.",
  group: "config",
  arity: 0,
  run(ctx) {
    ctx.set("secret", randomBytes(32).toString("base64url"));
  },
};

export const setsecret: Command = {
  name: "setsecret",
  aliases: ["secret"],
  usage: "SECRET",
  summary: "set the shared secret",
  group: "config",
  arity: 1,
  run(ctx, [secret]) {
    if (secret === "") throw new CliError("the secret must not be empty (delsecret removes it)");
    ctx.set("secret", secret);
  },
};

export const delsecret: Command = {
  name: "delsecret",
  usage: "",
  summary: "remove the shared secret",
  group: "config",
  arity: 0,
  run(ctx) {
    ctx.del("secret");
  },
};

export default [gensecret, setsecret, delsecret];
