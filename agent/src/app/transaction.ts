import type { Logger } from "pino";

interface Undo {
  label: string;
  fn: () => Promise<void>;
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
  constructor(private readonly log: Logger) {}

  record(label: string, undo?: Undo): void {
    this.done.push(label);
    if (undo) this.undos.push(undo);
  }

  async rollback(): Promise<RollbackReport> {
    const report: RollbackReport = { rolledBack: [], rollbackFailures: [] };
    for (const u of this.undos.reverse()) {
      try {
        await u.fn();
        report.rolledBack.push(u.label);
      } catch (err) {
        const msg = `${u.label}: ${(err as Error).message}`;
        report.rollbackFailures.push(msg);
        this.log.error({ step: u.label, err: (err as Error).message }, "rollback step failed");
      }
    }
    this.undos.length = 0;
    return report;
  }
}
