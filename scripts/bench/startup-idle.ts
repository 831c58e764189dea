// The same idle node as startup-idle.mjs, from the TypeScript sources through tsx.
import { configure, port, rcv } from "../../lib/index.ts";

await configure({ nodeid: "idle/%u", binds: ["127.0.0.1:*"], secret: "bench" });
rcv(port(), "ping", () => {});
console.log("ready");
setInterval(() => {}, 1 << 30);
