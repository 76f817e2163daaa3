/**
 * The process environment fsraft-node is meant to run with: glibc malloc settings.
 *
 * With glibc's defaults, malloc hands freed memory back to the kernel (the heap is trimmed once
 * 128 KiB at its top are free, and each thread's arena shrinks) and takes it back a 4 KiB page at
 * a time. A node allocates and frees every message, log record and reply, so under load it
 * page-faulted continuously: at 64 clients writing 1 KiB, about 3,000 faults a second on each
 * follower and 5,500 on the leader, where one fault costs about 15 µs on the virtual machine the
 * figures in the README come from. These settings back the heap with transparent huge pages
 * where the kernel allows it (`madvise` mode, the usual default), keep up to 64 MiB of free heap
 * instead of trimming it, and use one arena for all threads; faults drop by about two thirds and
 * write throughput rose by 10-20% in runs on that machine. They change only how memory is reused,
 * never what the node does; a GLIBC_TUNABLES the operator sets is left as it is.
 *
 * Setting trim_threshold or top_pad also turns off glibc's sliding mmap threshold, which would
 * otherwise rise past the sizes a process keeps freeing; left at its 128 KiB start, every block of
 * a 1 MiB write (received, logged, replicated, applied) was a fresh mmap, zeroed and faulted in a
 * page at a time, and unmapped again when freed: about 1,300 faults per MiB on each node. A fixed
 * threshold of 32 MiB (the sliding one's own ceiling) serves those blocks from the reused heap: a
 * 64 MiB write through the mount took about 1 s of CPU per node instead of 2.5-3 s, and fewer
 * than 1,000 faults instead of 85,000.
 *
 * glibc reads GLIBC_TUNABLES once, when a process starts, so it must be in the environment the
 * node is started with: bin/fsraft-node.js sets it in its `#!` line (checked by a unit test), and
 * the scripts and test harnesses that start nodes pass `nodeEnvironment(process.env)`.
 */
export const mallocTunables = [
  'glibc.malloc.hugetlb=1',
  'glibc.malloc.trim_threshold=67108864',
  'glibc.malloc.top_pad=16777216',
  'glibc.malloc.arena_max=1',
  'glibc.malloc.mmap_threshold=33554432',
].join(':');

/** `env` with fsraft-node's GLIBC_TUNABLES added, unless it already sets its own. */
export function nodeEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env['GLIBC_TUNABLES'] !== undefined && env['GLIBC_TUNABLES'] !== '') return env;
  return { ...env, GLIBC_TUNABLES: mallocTunables };
}
