/**
 * Typed database families; error codes and what the package exports. Compiled, never
 * run (see expect.ts).
 */
import * as aemp from "aemp";
import { type AempErrorCode, AempError, type DbFamily, type PortId, PortKilledError, ProtocolError, asPort, dbChanges, dbFamily, dbMon, dbValues, dbWaitFor, snd } from "aemp";
import { exactly } from "./expect.ts";

type Worker = { load: number; since: number };
type Job = ["job", number];

export async function families(): Promise<void> {
  const workers = await dbFamily<Worker>("myapp::workers");
  exactly<DbFamily<Worker>>()(workers);
  for (const [id, w] of Object.entries(workers)) {
    exactly<number>()(w.load);
    snd(asPort<Job>(id), "job", 1);
  }
  await dbFamily<Worker>("myapp::workers", (family) => exactly<DbFamily<Worker>>()(family));
  exactly<Worker[]>()(await dbValues<Worker>("myapp::workers"));
  await dbValues<Worker>("myapp::workers", (values) => exactly<Worker[]>()(values));
  dbMon<Worker>("myapp::workers", (family, added) => {
    for (const key of added) exactly<Worker | undefined>()(family[key] as Worker | undefined);
    // @ts-expect-error the monitor's copy is read-only
    family.x = { load: 0, since: 0 };
  });
  for await (const change of dbChanges<Worker>("myapp::workers")) exactly<DbFamily<Worker>>()(change.family);
  exactly<DbFamily<Worker> | undefined>()(await dbWaitFor<Worker>("myapp::workers", 1));
  // Untyped, as before.
  exactly<DbFamily<unknown>>()(await dbFamily("f"));
  exactly<unknown[]>()(await dbValues("f"));
  // A key is a plain string: an untyped port until turned into a typed one.
  const key = Object.keys(workers)[0] ?? "";
  snd(key, "anything");
  // @ts-expect-error a key is not a typed port
  const typed: PortId<Job> = key;
  void typed;
}

export function errorCodes(err: unknown): void {
  if (err instanceof AempError) {
    exactly<AempErrorCode>()(err.code);
    // @ts-expect-error not a documented code
    if (err.code === "ERR_NOPE") return;
  }
  if (err instanceof PortKilledError) exactly<"ERR_PORT_KILLED">()(err.code);
  if (err instanceof ProtocolError && err.code === "ERR_AUTH_MISMATCH") return;
  // @ts-expect-error internal helpers are not part of the package
  void aemp.argumentError;
}
