/** `setbinds`, `delbinds`, `addbind`, `delbind`: where a node listens. */
import { listCommands } from "./list.ts";

export default listCommands({ key: "binds", singular: "bind", item: "HOST:PORT", duplicates: false, aliases: ["binds"] });
