import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import initSqlJs, { type BindParams, type Database, type SqlJsStatic, type SqlValue } from 'sql.js';
import { DatabaseOpenError, StorageFailedError } from './errors.ts';
import { MEMORY_DB } from './options.ts';

let sqlJs: Promise<SqlJsStatic> | undefined;

/** Non-durable changes are written at most this long after they were made. */
const LAZY_SAVE_MS = 5000;

/** The sql.js (SQLite compiled to wasm) module, loaded once per process. */
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

export type Row = Record<string, SqlValue>;

/**
 * An embedded SQLite database (sql.js) held in memory and saved to one file after every change:
 * the whole image is written to a temporary file in the same directory, fsynced and renamed over
 * the database, so the file is always either the old or the new state. A change whose write
 * fails is rolled back in memory too. One server process per file (no cross-process locking).
 * `secure_delete` is on, so deleted or overwritten rows leave no bytes behind in the file.
 *
 * A missing file is created (with its directory) only by the first change, so a server that
 * never stores anything leaves no file behind.
 *
 * A change made with `{ durable: false }` (login failure counters: a flood of wrong passwords
 * must not cost one whole-file write each) is committed in memory and saved with the next
 * durable change, or by a timer within `LAZY_SAVE_MS`, or on `close`; a crash may lose it.
 */
export class SqliteFile {
  private db: Database;
  /** The state before the current change (last written, loaded or set up), for rollback. */
  private saved: Uint8Array | undefined;
  /** A timer that saves non-durable changes not yet written. */
  private lazySave: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly SQL: SqlJsStatic,
    readonly file: string,
    image: Uint8Array | undefined,
  ) {
    this.saved = image;
    this.db = this.openImage(image);
  }

  /** Opens `file` (or an empty in-memory database for `:memory:`). */
  static async open(file: string): Promise<SqliteFile> {
    const SQL = await loadSqlJs();
    let image: Uint8Array | undefined;
    if (file !== MEMORY_DB) {
      try {
        image = fs.readFileSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new DatabaseOpenError(file, err);
      }
    }
    try {
      const f = new SqliteFile(SQL, file, image);
      // Reading the schema fails fast on a file that is not SQLite.
      f.all('SELECT name FROM sqlite_master LIMIT 1');
      return f;
    } catch (err) {
      throw new DatabaseOpenError(file, err);
    }
  }

  get persistent(): boolean {
    return this.file !== MEMORY_DB;
  }

  /** Rows of a read-only query. */
  all(sql: string, params: BindParams = null): Row[] {
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params);
      const rows: Row[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject());
      return rows;
    } finally {
      stmt.free();
    }
  }

  /** Runs statements without saving (schema setup; the next `change` saves them). */
  exec(sql: string): void {
    this.db.exec(sql);
    this.saved = this.db.export();
    this.configure();
  }

  get(sql: string, params: BindParams = null): Row | undefined {
    return this.all(sql, params)[0];
  }

  /**
   * Runs `change` (statements via `run`) in one transaction, then saves the file. If `change`
   * throws, the transaction is rolled back; if saving fails, memory is restored to the last saved
   * image and StorageFailedError is thrown. `durable: false` defers the save (see the class).
   */
  change<T>(
    change: (run: (sql: string, params?: BindParams) => number) => T,
    { durable = true } = {},
  ): T {
    const run = (sql: string, params: BindParams = null): number => {
      this.db.run(sql, params);
      return this.db.getRowsModified();
    };
    this.db.run('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = change(run);
      this.db.run('COMMIT');
    } catch (err) {
      this.db.run('ROLLBACK');
      throw err;
    }
    if (!this.persistent) return result;
    if (!durable) {
      this.lazySave ??= setTimeout(() => this.saveLazy(), LAZY_SAVE_MS);
      this.lazySave.unref?.();
      return result;
    }
    this.save();
    return result;
  }

  close(): void {
    if (this.lazySave) this.saveLazy();
    this.db.close();
  }

  /** Writes the whole image now; on failure restores the last saved one and throws. */
  private save(): void {
    clearTimeout(this.lazySave);
    this.lazySave = undefined;
    let image: Uint8Array;
    try {
      image = this.db.export();
      this.configure();
      writeAtomically(this.file, image);
    } catch (err) {
      this.db.close();
      this.db = this.openImage(this.saved);
      throw new StorageFailedError(err);
    }
    this.saved = image;
  }

  /** The timer's save: a failure drops the deferred changes (counters), nothing else. */
  private saveLazy(): void {
    try {
      this.save();
    } catch {
      // Memory is back at the last saved image; the next change saves again.
    }
  }

  private openImage(image: Uint8Array | undefined): Database {
    const db = new this.SQL.Database(image);
    this.db = db;
    this.configure();
    return db;
  }

  /** Per-connection settings (sql.js reopens the connection in `export()`). */
  private configure(): void {
    this.db.run('PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON');
  }
}

/** Writes `data` to `file` via a fsynced temporary file and a rename (mode 0600). */
export function writeAtomically(file: string, data: Uint8Array): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const d = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is atomic.
  }
}
