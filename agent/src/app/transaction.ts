import type { Logger } from "pino";

export type UndoKind = "mount" | "import" | "hostid" | "other";

interface Undo {
  label: string;
  fn: () => Promise<void>;
  /** What the step changed: lets a paused operation undo its mounts but keep its imports. */
  kind?: UndoKind;
}

export interface RollbackReport {
  rolledBack: string[];
  rollbackFailures: string[];
}

/**
 * Steps with their inverse. A failed operation calls `rollback()`, which undoes the completed
 * steps in reverse order and reports exactly what was undone and what could not be.
 */
export class Transaction {
  readonly done: string[] = [];
  private readonly undos: Undo[] = [];
  /** Told each step as it is recorded (the lock's progress, shown in /v1/status `busy`). */
  onRecord: ((label: string) => void) | null = null;
  constructor(private readonly log: Logger) {}

  record(label: string, undo?: Undo): void {
    this.done.push(label);
    this.onRecord?.(label);
    if (undo) this.undos.push(undo);
  }

  /** A point to roll back to later (see rollbackTo). */
  mark(): number {
    return this.undos.length;
  }

  private async undo(list: Undo[], report: RollbackReport): Promise<void> {
    for (const u of list.reverse()) {
      try {
        await u.fn();
        report.rolledBack.push(u.label);
      } catch (err) {
        const msg = `${u.label}: ${(err as Error).message}`;
        report.rollbackFailures.push(msg);
        this.log.error({ step: u.label, err: (err as Error).message }, "rollback step failed");
      }
    }
  }

  async rollback(): Promise<RollbackReport> {
    const report: RollbackReport = { rolledBack: [], rollbackFailures: [] };
    await this.undo(this.undos.splice(0), report);
    return report;
  }

  /** Undo only what was recorded after `mark` (newest first); the rest stays for a later rollback. */
  async rollbackTo(mark: number): Promise<RollbackReport> {
    const report: RollbackReport = { rolledBack: [], rollbackFailures: [] };
    await this.undo(this.undos.splice(mark), report);
    for (const l of report.rolledBack) this.done.push(l);
    return report;
  }

  /** Undo only the steps of `kind` (newest first), keep the others (and forget them). */
  async rollbackKind(kind: UndoKind): Promise<RollbackReport> {
    const report: RollbackReport = { rolledBack: [], rollbackFailures: [] };
    const mine = this.undos.filter((u) => u.kind === kind);
    this.undos.length = 0;
    await this.undo(mine, report);
    return report;
  }
}
