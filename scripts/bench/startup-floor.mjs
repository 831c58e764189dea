// The floor under startup-idle.mjs: a node that loads only the Node modules and the
// package an aemp node needs (net, crypto, async_hooks, superjson) and listens on
// 127.0.0.1, with none of aemp's own code.
import "node:async_hooks";
import "node:crypto";
import { createServer } from "node:net";
import "superjson";

createServer().listen(0, "127.0.0.1", () => console.log("ready"));
