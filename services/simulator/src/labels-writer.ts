import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Label, labelLine } from '@flowwatch/simulator';

/**
 * Appends labels to a JSONL file, one line per scenario as it ends, synchronously so a crash
 * never leaves half a line and a reader tailing the file sees each label once it is final.
 * An empty path writes nothing.
 */
export class LabelsWriter {
  constructor(private readonly path: string) {
    if (path !== '') mkdirSync(dirname(path), { recursive: true });
  }

  write(labels: readonly Label[]): void {
    if (this.path === '' || labels.length === 0) return;
    appendFileSync(this.path, labels.map(labelLine).join(''));
  }
}
