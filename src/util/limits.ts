/**
 * Every bound the system enforces, named in one place (units last). A limit that is hit produces
 * an error value for the caller, never unbounded memory growth.
 */
export const limits = {
  /** The first line of a course command (read, write, cas, delete), without its CRLF: the course's 500 bytes. */
  commandLineBytesMax: 500,
  /**
   * The first line of a tree command: two PATH_MAX paths, percent-encoded (at most 3 bytes per
   * byte), and the other fields fit.
   */
  treeCommandLineBytesMax: 32 * 1024,
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
   * a file past it (writeat, truncate, fallocate) is ERR_TOO_LARGE. 16 TiB is what ext4 holds in
   * one file with 4 KiB blocks, where each node keeps large contents (holes cost nothing).
   */
  fileBytesMaxDefault: 16 * 1024 * 1024 * 1024 * 1024,
  /**
   * A file's content up to this size lives in the node's LevelDB beside its attributes; a larger
   * one in a sparse file of its own (README "Where a node keeps its data" says why).
   */
  inlineContentBytesMax: 64 * 1024,
  /** Entries in one directory; adding one more is ERR_TOO_LARGE (readdir streams them in pages). */
  directoryEntriesMax: 16 * 1024 * 1024,
  /** Entries `list` answers in one reply; a larger directory is ERR_TOO_LARGE there (use readdir). */
  listEntriesMax: 65_536,
  /** Largest LIST body a client accepts: listEntriesMax lines of at most 2 KiB. */
  listReplyBytesMax: 128 * 1024 * 1024,
  /** Entries one readdir reply carries at most. */
  readdirEntriesMax: 4096,
  /** Longest name in a command, in UTF-8 bytes: beyond it the command is malformed (ERR_CMD_ERR). */
  nameBytesMax: 16 * 1024,
  /** Longest path component (NAME_MAX); longer is ERR_NAME_TOO_LONG (ENAMETOOLONG). */
  componentBytesMax: 255,
  /** Longest path (PATH_MAX); longer is ERR_NAME_TOO_LONG (ENAMETOOLONG). */
  pathBytesMax: 4096,
  /** Longest symbolic link target (PATH_MAX less its NUL); longer is ERR_NAME_TOO_LONG. */
  symlinkTargetBytesMax: 4095,
  /** Names (hard links) one file may have; one more is ERR_TOO_MANY_LINKS (EMLINK), as ext4's 65,000. */
  linkCountMax: 65_000,
  /** Longest extended attribute name with its namespace (XATTR_NAME_MAX); longer is ERANGE. */
  xattrNameBytesMax: 255,
  /** Largest extended attribute value (XATTR_SIZE_MAX); larger is E2BIG at the mount, ERR_TOO_LARGE here. */
  xattrValueBytesMax: 64 * 1024,
  /** Bytes of names and values one node's extended attributes may hold together; more is ENOSPC. */
  xattrBytesPerNodeMax: 256 * 1024,
  /**
   * Bytes of state changes a node holds in memory since its last sync point before it takes the
   * next (and, at twice this, before it applies more): what a restart replays from the log.
   */
  stateOverlayBytesMax: 64 * 1024 * 1024,
  /** Bytes of decoded state records a node caches in memory (least recently used dropped first). */
  stateCacheBytesMax: 32 * 1024 * 1024,
  /** Nodes one holder (a mount) may hold open; a mount opens at most fuseHandlesMax files. */
  holdsPerHolderMax: 1024 * 1024,
  /** Expired files and orphaned nodes one housekeeping (reap) command removes at most. */
  reapTargetsMax: 512,
  /** Largest encoded Raft message accepted from the network. */
  messageBytesMax: 64 * 1024 * 1024,
  /** Unflushed bytes one open FUSE file may hold (buffered plus in flight) before a write waits. */
  fuseDirtyBytesMax: 4 * 1024 * 1024,
  /** writeat requests one open FUSE file may have in flight at once. */
  fuseWritesInFlightMax: 4,
  /** Files the FUSE mount may have open at once; more open() calls fail with EMFILE. */
  fuseHandlesMax: 65536,
  /** How long one client call of the mount may retry through a leader change before EIO. */
  fuseRequestTimeoutMs: 60_000,
  /**
   * How late past its timeout a client call or a FUSE operation may end: the latency of the timer
   * that ends it, nothing waits on purpose. Tests hold the code to it. A call that waited for a
   * connection, then a discovery, then a reply each bounded by its own timeout ended up to
   * attemptTimeoutMs late, and a FUSE utimens behind four chained writes five timeouts late.
   */
  deadlineSlackMs: 100,
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
  /**
   * Read-ahead of a mount, KiB. The kernel starts a FUSE mount at 128 KiB, so a sequential read was
   * 128 KiB requests with one or two in flight, each a linearizable round trip through the leader;
   * at 4 MiB the kernel sends 1 MiB requests, several at once.
   */
  fuseReadAheadKibDefault: 4096,
  /** Largest read_ahead_kb a mount takes. */
  fuseReadAheadKibMax: 65536,
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
  /**
   * Largest snapshot of a stated length a node accepts from a leader (a forged size must not be
   * believed). A state stream states none (0): its records and CRCs bound it as it arrives.
   */
  snapshotBytesMax: 2 * 1024 * 1024 * 1024,
} as const;
