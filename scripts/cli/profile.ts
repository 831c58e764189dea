/**
 * Profiles: `profile NAME` (the commands after it edit that profile), `setparent`,
 * `delparent`, `delprofile`, `showprofile`.
 *
 * A profile inherits every key of its parent chain; `configure` and `aemp run` apply
 * the chain root first. Parents must exist and must not form a loop: both are checked
 * when the parent is set, and a profile that is some other profile's parent cannot be
 * deleted.
 */
import { formatRc, profileChain } from "../../lib/config/rc.ts";
import { CliError, type Command } from "./command.ts";

export const profile: Command = {
  name: "profile",
  usage: "NAME [COMMAND...]",
  summary: "edit profile NAME with the commands that follow (created by the first change)",
  help: "Example: aemp profile seed setbinds '*:4040' setnodeid seed\nWithout a profile, commands edit the top level, which every profile inherits.",
  group: "profile",
  arity: 1,
  run(ctx, [name]) {
    if (name === "") throw new CliError("a profile name must not be empty");
    ctx.profile = name;
    ctx.target();
  },
};

export const setparent: Command = {
  name: "setparent",
  usage: "PARENT",
  summary: "make the profile inherit from profile PARENT",
  group: "profile",
  arity: 1,
  run(ctx, [parent]) {
    if (ctx.profile === undefined) throw new CliError("only a profile has a parent: aemp profile NAME setparent PARENT");
    ctx.existingProfile(parent);
    const target = ctx.target();
    const old = target.parent;
    target.parent = parent;
    try {
      profileChain(ctx.rc(), ctx.profile, ctx.path);
    } catch (err) {
      if (old === undefined) delete target.parent;
      else target.parent = old;
      throw err;
    }
    ctx.dirty = true;
  },
};

export const delparent: Command = {
  name: "delparent",
  usage: "",
  summary: "the profile no longer inherits from another",
  group: "profile",
  arity: 0,
  run(ctx) {
    if (ctx.profile === undefined) throw new CliError("only a profile has a parent: aemp profile NAME delparent");
    ctx.del("parent");
  },
};

export const delprofile: Command = {
  name: "delprofile",
  usage: "NAME",
  summary: "delete profile NAME",
  group: "profile",
  arity: 1,
  run(ctx, [name]) {
    ctx.existingProfile(name);
    const profiles = ctx.rc().profile!;
    const children = Object.entries(profiles).filter(([, p]) => p.parent === name).map(([n]) => n);
    if (children.length > 0) throw new CliError(`profile '${name}' is the parent of ${children.map((c) => `'${c}'`).join(", ")}; change their parent first`);
    delete profiles[name];
    if (Object.keys(profiles).length === 0) delete ctx.rc().profile;
    if (ctx.profile === name) ctx.profile = undefined;
    ctx.dirty = true;
  },
};

export const showprofile: Command = {
  name: "showprofile",
  usage: "NAME",
  summary: "print profile NAME as stored (its own keys, JSON)",
  group: "profile",
  arity: 1,
  run(ctx, [name]) {
    ctx.io.out(formatRc(ctx.existingProfile(name)));
  },
};

export default [profile, setparent, delparent, delprofile, showprofile];
