import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Suffix of the temporary files {@link writeFileAtomic} leaves behind when killed mid-write. */
export const TEMP_SUFFIX = '.tmp';

/**
 * Replaces `path` with `data` so that after a crash or a power cut the file holds either the
 * old or the new content, never a mix: write a temporary file beside it, fsync it, rename it
 * over the target, fsync the directory (the rename itself is durable only then). Not
 * write-file-atomic: it fsyncs the file but not the directory, so an acknowledged token could
 * still vanish in a power cut.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  const file = await open(temp, 'wx', mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
  await file.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  await syncDir(dirname(path));
}

/** Removes `path` durably; a missing file is fine. */
export async function removeFileDurably(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await syncDir(dirname(path));
}

/** Makes the directory's entries (created, renamed, removed files) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename is as durable as they allow.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}
