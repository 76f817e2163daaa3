/**
 * Every bound the system enforces, named in one place (units last). A limit that is hit produces
 * an error value for the caller, never unbounded memory growth.
 */
export const limits = {
  /** The first line of a client command, without its CRLF (the course protocol's 500 bytes). */
  commandLineBytesMax: 500,
  /** Default largest content of one write/cas; configurable per cluster (`contentBytesMax`). */
  contentBytesMaxDefault: 1024 * 1024,
  /** Client connections one node accepts at once; more are refused with ERR_INTERNAL. */
  clientConnectionsMax: 4096,
  /** Commands a connection may have pipelined and unanswered before the node stops reading it. */
  pipelinedCommandsMax: 256,
  /** Reply bytes queued for a client that is not reading them before the node stops reading its commands. */
  replyBufferBytesMax: 8 * 1024 * 1024,
  /**
   * Bytes received from all clients and not yet whole commands (at least 4 x contentBytesMax is
   * used) before the node stops reading the connections that hold part of a command.
   */
  clientReceiveBytesMax: 256 * 1024 * 1024,
  /** Entries in one AppendEntries message. */
  appendEntriesMax: 512,
  /** Payload bytes in one AppendEntries message (at least one entry is always sent). */
  appendBytesMax: 4 * 1024 * 1024,
  /** AppendEntries messages in flight to one follower before the leader waits for acks. */
  inflightAppendsMax: 16,
  /** Client commands proposed but not yet committed on a leader before new ones are refused. */
  pendingProposalsMax: 65536,
  /** Linearizable reads waiting for a quorum round on a leader. */
  pendingReadsMax: 65536,
  /** Exactly-once sessions remembered by the file-server state machine (oldest evicted). */
  sessionsMax: 10000,
  /**
   * Default largest size of one file in bytes; configurable per cluster (`fileBytesMax`). Growing
   * a file past it (writeat, truncate) is ERR_TOO_LARGE.
   */
  fileBytesMaxDefault: 1024 * 1024 * 1024,
  /**
   * File contents are held as immutable chunks of this size, so a writeat copies only the chunks
   * it touches and a snapshot can share contents with the live state instead of copying them.
   */
  fileChunkBytes: 64 * 1024,
  /**
   * Entries in one directory; adding one more is ERR_TOO_LARGE. Bounds the LIST reply (each entry
   * line is under 2 KiB, since a component arrives inside a 500-byte command line).
   */
  directoryEntriesMax: 65_536,
  /** Largest LIST body a client accepts: directoryEntriesMax lines of at most 2 KiB. */
  listReplyBytesMax: 128 * 1024 * 1024,
  /** Largest encoded Raft message accepted from the network. */
  messageBytesMax: 64 * 1024 * 1024,
  /** Unflushed bytes one open FUSE file may hold (buffered plus in flight) before a write waits. */
  fuseDirtyBytesMax: 4 * 1024 * 1024,
  /** writeat requests one open FUSE file may have in flight at once. */
  fuseWritesInFlightMax: 4,
  /** Read-ahead bytes all files open in the FUSE mount may hold together (one window per file). */
  fuseReadAheadBytesMax: 32 * 1024 * 1024,
  /** Files the FUSE mount may have open at once; more open() calls fail with EMFILE. */
  fuseHandlesMax: 65536,
  /** How long attributes learnt from a directory listing may answer getattr (at most 1 s). */
  fuseAttrCacheTtlMs: 1000,
  /** Attribute entries the FUSE mount caches from listings before it drops them all. */
  fuseAttrCacheEntriesMax: 100_000,
  /** Longest path component the FUSE mount accepts, in UTF-8 bytes (POSIX NAME_MAX). */
  fuseComponentBytesMax: 255,
  /** How long one client call of the mount may retry through a leader change before EIO. */
  fuseRequestTimeoutMs: 60_000,
  /** How long the kernel-facing side waits for one FUSE operation before ETIMEDOUT. */
  fuseOperationTimeoutMs: 300_000,
  /** Unmount attempts on SIGINT/SIGTERM while the mount is busy, one per fuseUnmountRetryMs. */
  fuseUnmountAttemptsMax: 20,
  /** Pause between two unmount attempts of a busy mount. */
  fuseUnmountRetryMs: 500,
  /** Largest WRITE (and READ) the kernel sends a kernel-protocol FUSE session: 1 MiB, FUSE_MAX_PAGES x 4 KiB. */
  fuseMaxWriteBytes: 1024 * 1024,
  /** Pages in one FUSE request (FUSE_MAX_PAGES); the kernel caps it at its own max_pages_limit (256). */
  fuseMaxPages: 256,
  /** Bytes of one read(2) of /dev/fuse: the largest WRITE plus its headers, rounded up to a page. */
  fuseReadBufferBytes: 1024 * 1024 + 4096,
  /** Requests read from /dev/fuse and not yet answered; past it the session stops reading until one ends. */
  fuseRequestsInFlightMax: 1024,
  /** fs.read calls a 'pool' FUSE channel keeps waiting on /dev/fuse at once (each holds a libuv pool thread). */
  fusePoolReadsInFlight: 4,
  /** Asynchronous requests (readahead, writeback) the kernel keeps in flight to the session at once. */
  fuseMaxBackgroundRequests: 64,
  /** Background requests past which the kernel reports the mount as congested (3/4 of the above). */
  fuseCongestionThresholdRequests: 48,
  /** Longest entry_timeout/attr_timeout a mount accepts, in seconds (a day). */
  fuseCacheTimeoutSecondsMax: 86_400,
  /** How long a kernel-protocol mount waits for the kernel's INIT before it gives up and detaches. */
  fuseInitTimeoutMs: 10_000,
  /** How long a kernel-protocol unmount waits for the kernel to end the session before it returns anyway. */
  fuseSessionEndWaitMs: 5_000,
  /** Snapshot bytes in one InstallSnapshot chunk (Raft §7); well below messageBytesMax. */
  snapshotChunkBytesMax: 1024 * 1024,
  /** InstallSnapshot chunks in flight to one follower: enough to keep a link busy, few enough not to crowd out other traffic. */
  snapshotChunksInflightMax: 4,
  /** Largest snapshot file a node accepts from a leader (a forged size must not be believed); it is checked in memory. */
  snapshotBytesMax: 2 * 1024 * 1024 * 1024,
  /** Bytes the state machine serializes per piece while a snapshot is written; the event loop runs between pieces. */
  snapshotPieceBytesMax: 256 * 1024,
  /** Snapshot bytes written between fsyncs while a snapshot is written, so no single fsync holds the disk long. */
  snapshotSyncBytes: 4 * 1024 * 1024,
  /** Older snapshot files kept open for followers still being sent one (files are deleted from disk at once). */
  snapshotFilesOpenMax: 4,
} as const;
