/** `setseeds`, `delseeds`, `addseed`, `delseed`: the seed nodes' addresses. */
import { listCommands } from "./list.ts";

export default listCommands({ key: "seeds", singular: "seed", item: "HOST:PORT", duplicates: false, aliases: ["seeds"] });
