import { openDatabase } from "../../kit/database/open-database.js";
import { createDeploymentCreation } from "./create-deployment.js";
import { createDeploymentReads } from "./deployments.js";
import { createEventReads } from "./events.js";
import { migrations } from "./migrations.js";
import { createWriteTransaction } from "./revisions.js";
import type { DeploymentSchema } from "./schema.js";
import type { DeploymentStore } from "./types.js";
import { createDeploymentUpdate } from "./update-deployment.js";

/** Where the deployments service keeps its data. */
export interface DeploymentStoreOptions {
  /** A PostgreSQL URL (optionally `?schema=name`); else the SQLite file is used. */
  url?: string;
  /** The SQLite file, used when `url` is not a PostgreSQL URL. */
  sqlitePath: string;
  /**
   * On PostgreSQL, every write transaction runs `pg_notify(notifyChannel,
   * '<latest revision>')` before it commits, so listeners on every replica
   * learn of the change. Ignored on SQLite.
   */
  notifyChannel?: string;
}

/**
 * Opens the deployments service's database (PostgreSQL when `url` is a
 * PostgreSQL URL, else the SQLite file), migrated to the latest version.
 */
export async function openDeploymentStore(options: DeploymentStoreOptions): Promise<DeploymentStore> {
  const database = await openDatabase<DeploymentSchema>({ url: options.url, sqlitePath: options.sqlitePath, migrations });
  const write = createWriteTransaction(database, options.notifyChannel);
  return {
    ...createDeploymentReads(database),
    ...createEventReads(database),
    ...createDeploymentCreation(database, write),
    ...createDeploymentUpdate(database, write),
    close: () => database.close(),
  };
}
