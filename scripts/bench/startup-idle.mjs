// An idle configured node from the built package (dist/), as plain node runs it for a
// user: listens on 127.0.0.1, has one port, prints "ready" and waits.
import { configure, port, rcv } from "../../dist/lib/index.js";

await configure({ nodeid: "idle/%u", binds: ["127.0.0.1:*"], secret: "bench" });
rcv(port(), "ping", () => {});
console.log("ready");
setInterval(() => {}, 1 << 30);
