/**
 * `setservices`, `delservices`, `addservice`, `delservice`: what a node starts once
 * it is up (registered services or init functions, or modules under module_roots).
 * A service may be listed twice to run two instances; `delservice` removes one. An
 * entry may be `[name, args...]` (JSON), as in Perl: the function gets the arguments.
 */
import { listCommands } from "./list.ts";

export default listCommands({ key: "services", singular: "service", item: "NAME|'[NAME,ARG...]'", duplicates: true, aliases: ["services"], listItems: true });
