/*
 * fsraft's own N-API addon: what Node cannot do by itself.
 *
 * - Mounting a FUSE file system spoken over /dev/fuse by our own kernel-protocol session
 *   (src/fuse/kernel/fuse_session.ts): as root, open /dev/fuse and mount(2) it; otherwise run
 *   fusermount3/fusermount with _FUSE_COMMFD and receive the opened /dev/fuse by SCM_RIGHTS,
 *   as libfuse's fuse_mount_fusermount does. Unmounting: umount2(2) as root, `fusermount -u`
 *   otherwise. Mounting and unmounting run on a libuv worker thread and return promises: an
 *   unmount may need this very process to answer the kernel (FUSE_DESTROY) while it waits.
 * - A reader thread for /dev/fuse that hands each request to JavaScript through a threadsafe
 *   function, with a bound on the requests handed over and not yet finished (credits).
 * - For the storage nodes' sparse content files: lseek(SEEK_DATA/SEEK_HOLE), fallocate(2),
 *   syncfs(2).
 * - CRC-32C with the CPU's crc32 instruction (x86-64 with SSE4.2 only), for the checksums of
 *   large log entries (src/util/crc32.ts keeps the portable version).
 *
 * Built by native/build_native.mjs with the C compiler and Node's own headers (no node-gyp).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---------- errors ---------- */

static const char *errno_name(int error) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(error);
  if (name != NULL) return name;
#endif
  return "EIO";
}

/* An Error with .code = errno name, .errno = the number, and the message. */
static napi_value make_errno_error(napi_env env, int error, const char *what) {
  char message[1024];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  napi_value code, text, result, number;
  napi_create_string_utf8(env, errno_name(error), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &result);
  napi_create_int32(env, error, &number);
  napi_set_named_property(env, result, "errno", number);
  return result;
}

static napi_value throw_errno(napi_env env, int error, const char *what) {
  napi_throw(env, make_errno_error(env, error, what));
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "EINVAL", message);
  return NULL;
}

/* ---------- argument helpers ---------- */

static int get_int64(napi_env env, napi_value value, int64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  double number;
  napi_get_value_double(env, value, &number);
  /* Offsets and lengths are JS numbers below 2^53; anything else is a caller's bug. */
  if (!(number >= -9007199254740991.0 && number <= 9007199254740991.0) || number != (double)(int64_t)number) return 0;
  *out = (int64_t)number;
  return 1;
}

static int get_int32(napi_env env, napi_value value, int32_t *out) {
  int64_t wide;
  if (!get_int64(env, value, &wide) || wide < INT32_MIN || wide > INT32_MAX) return 0;
  *out = (int32_t)wide;
  return 1;
}

/* A malloc'd copy of a JS string (caller frees), or NULL if `value` is not a string. */
static char *get_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static char *get_string_property(napi_env env, napi_value object, const char *name) {
  napi_value value;
  napi_valuetype type;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) return NULL;
  return get_string(env, value);
}

static int get_bool_property(napi_env env, napi_value object, const char *name) {
  napi_value value;
  bool result = false;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return 0;
  if (napi_get_value_bool(env, value, &result) != napi_ok) return 0;
  return result ? 1 : 0;
}

static int64_t get_int_property(napi_env env, napi_value object, const char *name, int64_t fallback) {
  napi_value value;
  int64_t result;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return fallback;
  return get_int64(env, value, &result) ? result : fallback;
}

/* ---------- running fusermount ---------- */

/* The child's stderr, read after it exited (bounded: the rest is dropped). */
#define CHILD_STDERR_BYTES_MAX 4096

/*
 * Spawns argv[0] (an absolute path) with `extra_env` added to the environment, `pass_fd` (if >= 0)
 * given to the child as fd `pass_fd_target`, stdin and stdout on /dev/null, stderr into a pipe
 * whose read end is returned in *stderr_fd. Returns 0 or an errno.
 */
static int spawn_child(char *const argv[], const char *extra_env, int pass_fd, int pass_fd_target, pid_t *pid, int *stderr_fd) {
  int pipe_fds[2] = {-1, -1};
  /* stderr_fd NULL: the child writes to our stderr (it may outlive the call, as with auto_unmount). */
  if (stderr_fd != NULL && pipe2(pipe_fds, O_CLOEXEC) != 0) return errno;
  size_t count = 0;
  while (environ[count] != NULL) count++;
  char **envp = calloc(count + 2, sizeof(char *));
  if (envp == NULL) {
    if (stderr_fd != NULL) {
      close(pipe_fds[0]);
      close(pipe_fds[1]);
    }
    return ENOMEM;
  }
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    /* A stale _FUSE_COMMFD from our own environment must not reach fusermount. */
    if (strncmp(environ[i], "_FUSE_COMMFD=", 13) == 0) continue;
    envp[used++] = environ[i];
  }
  if (extra_env != NULL) envp[used++] = (char *)extra_env;
  envp[used] = NULL;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (stderr_fd != NULL) posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  /* dup2 onto another number clears close-on-exec, so only the child gets this fd. */
  if (pass_fd >= 0) posix_spawn_file_actions_adddup2(&actions, pass_fd, pass_fd_target);
  int error = posix_spawn(pid, argv[0], &actions, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  free(envp);
  if (stderr_fd == NULL) return error;
  close(pipe_fds[1]);
  if (error != 0) {
    close(pipe_fds[0]);
    return error;
  }
  *stderr_fd = pipe_fds[0];
  return 0;
}

/* Reads what is left in `fd` (up to the bound) into `out`, then closes it. */
static void drain_stderr(int fd, char *out, size_t out_bytes) {
  size_t used = 0;
  for (;;) {
    char scratch[512];
    ssize_t got = read(fd, scratch, sizeof scratch);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    size_t room = out_bytes - 1 - used;
    size_t take = (size_t)got < room ? (size_t)got : room;
    memcpy(out + used, scratch, take);
    used += take;
  }
  out[used] = '\0';
  while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == ' ')) out[--used] = '\0';
  close(fd);
}

static int wait_child(pid_t pid, int *status) {
  for (;;) {
    if (waitpid(pid, status, 0) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Receives one fd sent with SCM_RIGHTS on `socket_fd`; -1 with errno (0: the peer sent none). */
static int receive_fd(int socket_fd) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr header;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr message;
  memset(&message, 0, sizeof message);
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.space;
  message.msg_controllen = sizeof control.space;
  ssize_t got;
  do {
    got = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return -1;
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  if (got == 0 || header == NULL || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
    errno = 0;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

/* Reaps a fusermount that stays alive for auto_unmount, so it never lingers as a zombie. */
static void *reap_child(void *argument) {
  pid_t pid = (pid_t)(intptr_t)argument;
  int status;
  wait_child(pid, &status);
  return NULL;
}

/* ---------- fuseMount / fuseUnmount (async) ---------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  /* inputs */
  char *mountpoint;
  char *fsname;
  char *subtype;
  char *fusermount; /* absolute path, or NULL: mount(2) directly */
  char *fusermount_options;
  int read_only, noatime, allow_other, default_permissions, auto_unmount, lazy;
  int64_t max_read;
  /* outputs */
  int fd;
  int error;
  char what[256];
  char child_stderr[CHILD_STDERR_BYTES_MAX];
} mount_job;

static void mount_job_free(mount_job *job) {
  free(job->mountpoint);
  free(job->fsname);
  free(job->subtype);
  free(job->fusermount);
  free(job->fusermount_options);
  free(job);
}

static void mount_directly(mount_job *job) {
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    job->error = errno;
    snprintf(job->what, sizeof job->what, "open /dev/fuse");
    return;
  }
  char options[512];
  int length = snprintf(options, sizeof options, "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s%s", fd, S_IFDIR,
                        (unsigned)getuid(), (unsigned)getgid(), job->allow_other ? ",allow_other" : "",
                        job->default_permissions ? ",default_permissions" : "");
  if (job->max_read > 0 && length > 0 && (size_t)length < sizeof options) {
    snprintf(options + length, sizeof options - (size_t)length, ",max_read=%lld", (long long)job->max_read);
  }
  char fstype[256];
  if (job->subtype != NULL && job->subtype[0] != '\0') snprintf(fstype, sizeof fstype, "fuse.%s", job->subtype);
  else snprintf(fstype, sizeof fstype, "fuse");
  unsigned long flags = MS_NOSUID | MS_NODEV;
  if (job->read_only) flags |= MS_RDONLY;
  if (job->noatime) flags |= MS_NOATIME;
  if (mount(job->fsname, job->mountpoint, fstype, flags, options) != 0) {
    job->error = errno;
    snprintf(job->what, sizeof job->what, "mount %s (%s)", job->mountpoint, fstype);
    close(fd);
    return;
  }
  job->fd = fd;
}

static void mount_with_fusermount(mount_job *job) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    job->error = errno;
    snprintf(job->what, sizeof job->what, "socketpair");
    return;
  }
  /* fusermount finds the socket by the number in _FUSE_COMMFD; give it a fixed one. */
  int target = sockets[1] == 3 ? 4 : 3;
  char env[32];
  snprintf(env, sizeof env, "_FUSE_COMMFD=%d", target);
  char *argv[] = {job->fusermount, "-o", job->fusermount_options, "--", job->mountpoint, NULL};
  pid_t pid;
  int stderr_fd = -1;
  /*
   * With auto_unmount fusermount lives on to unmount when we end, and may still have something
   * to say then: it writes to our stderr, not into a pipe nobody reads any more.
   */
  int error = spawn_child(argv, env, sockets[1], target, &pid, job->auto_unmount ? NULL : &stderr_fd);
  /* Our copy of the child's end must go, or a fusermount that fails would never show EOF. */
  close(sockets[1]);
  if (error != 0) {
    close(sockets[0]);
    job->error = error;
    snprintf(job->what, sizeof job->what, "run %s", job->fusermount);
    return;
  }
  int fd = receive_fd(sockets[0]);
  int receive_error = errno;
  if (fd >= 0 && job->auto_unmount) {
    /*
     * With auto_unmount, fusermount stays alive until this socket closes (when this process
     * ends) and then unmounts: keep our end open for the life of the process, and reap it.
     */
    pthread_t thread;
    if (pthread_create(&thread, NULL, reap_child, (void *)(intptr_t)pid) == 0) pthread_detach(thread);
    job->fd = fd;
    return;
  }
  close(sockets[0]);
  int status = 0;
  wait_child(pid, &status);
  if (stderr_fd >= 0) drain_stderr(stderr_fd, job->child_stderr, sizeof job->child_stderr);
  if (fd < 0) {
    job->error = receive_error != 0 ? receive_error : EIO;
    snprintf(job->what, sizeof job->what, "%s exited with %d without handing over /dev/fuse", job->fusermount,
             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return;
  }
  job->fd = fd;
}

static void mount_execute(napi_env env, void *data) {
  (void)env;
  mount_job *job = data;
  if (job->fusermount == NULL) mount_directly(job);
  else mount_with_fusermount(job);
}

static void unmount_execute(napi_env env, void *data) {
  (void)env;
  mount_job *job = data;
  if (job->fusermount == NULL) {
    if (umount2(job->mountpoint, job->lazy ? MNT_DETACH : 0) != 0) {
      job->error = errno;
      snprintf(job->what, sizeof job->what, "umount %s", job->mountpoint);
    }
    return;
  }
  char *argv[] = {job->fusermount, job->lazy ? "-uz" : "-u", "--", job->mountpoint, NULL};
  pid_t pid;
  int stderr_fd;
  int error = spawn_child(argv, NULL, -1, -1, &pid, &stderr_fd);
  if (error != 0) {
    job->error = error;
    snprintf(job->what, sizeof job->what, "run %s", job->fusermount);
    return;
  }
  int status = 0;
  wait_child(pid, &status);
  drain_stderr(stderr_fd, job->child_stderr, sizeof job->child_stderr);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    /* fusermount says why only in words; a busy mount is the one callers act on. */
    job->error = strstr(job->child_stderr, strerror(EBUSY)) != NULL ? EBUSY
                 : strstr(job->child_stderr, "not mounted") != NULL || strstr(job->child_stderr, "not found in") != NULL ? EINVAL
                 : EIO;
    snprintf(job->what, sizeof job->what, "%s -u %s", job->fusermount, job->mountpoint);
  }
}

static void job_complete(napi_env env, napi_status status, void *data) {
  mount_job *job = data;
  if (status != napi_ok && job->error == 0) job->error = EIO;
  if (job->error != 0) {
    char what[sizeof job->what + sizeof job->child_stderr + 8];
    if (job->child_stderr[0] != '\0') snprintf(what, sizeof what, "%s (%s)", job->what, job->child_stderr);
    else snprintf(what, sizeof what, "%s", job->what);
    napi_reject_deferred(env, job->deferred, make_errno_error(env, job->error, what));
  } else {
    napi_value result;
    if (job->fd >= 0) napi_create_int32(env, job->fd, &result);
    else napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  mount_job_free(job);
}

static napi_value queue_job(napi_env env, mount_job *job, napi_async_execute_callback execute, const char *name) {
  napi_value promise, resource_name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, execute, job_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/*
 * fuseMount(mountpoint, { fsname, subtype, readOnly, noatime, allowOther, defaultPermissions,
 * maxRead, autoUnmount, fusermount, fusermountOptions }) -> Promise<fd>.
 * `fusermount` null: mount(2) directly (root); else that program's absolute path.
 */
static napi_value fuse_mount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "fuseMount(mountpoint, options)");
  mount_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "fuseMount");
  job->fd = -1;
  job->mountpoint = get_string(env, argv[0]);
  job->fsname = get_string_property(env, argv[1], "fsname");
  job->subtype = get_string_property(env, argv[1], "subtype");
  job->fusermount = get_string_property(env, argv[1], "fusermount");
  job->fusermount_options = get_string_property(env, argv[1], "fusermountOptions");
  job->read_only = get_bool_property(env, argv[1], "readOnly");
  job->noatime = get_bool_property(env, argv[1], "noatime");
  job->allow_other = get_bool_property(env, argv[1], "allowOther");
  job->default_permissions = get_bool_property(env, argv[1], "defaultPermissions");
  job->auto_unmount = get_bool_property(env, argv[1], "autoUnmount");
  job->max_read = get_int_property(env, argv[1], "maxRead", 0);
  if (job->mountpoint == NULL || job->fsname == NULL || (job->fusermount != NULL && job->fusermount_options == NULL)) {
    mount_job_free(job);
    return throw_type(env, "fuseMount: mountpoint and options.fsname must be strings (and fusermountOptions with fusermount)");
  }
  return queue_job(env, job, mount_execute, "fsraft.fuseMount");
}

/* fuseUnmount(mountpoint, lazy, fusermount | null) -> Promise<void>; rejects with .code (EBUSY, EINVAL...). */
static napi_value fuse_unmount(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "fuseUnmount(mountpoint, lazy, fusermount)");
  mount_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "fuseUnmount");
  job->fd = -1;
  job->mountpoint = get_string(env, argv[0]);
  bool lazy = false;
  napi_get_value_bool(env, argv[1], &lazy);
  job->lazy = lazy ? 1 : 0;
  if (argc >= 3) job->fusermount = get_string(env, argv[2]);
  if (job->mountpoint == NULL) {
    mount_job_free(job);
    return throw_type(env, "fuseUnmount: mountpoint must be a string");
  }
  return queue_job(env, job, unmount_execute, "fsraft.fuseUnmount");
}

/* ---------- the /dev/fuse reader thread ---------- */

typedef struct {
  int fd;
  size_t buffer_bytes;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t credit_available;
  int64_t credits;
} fuse_reader;

/* One request read from /dev/fuse (data != NULL), or the end of the session (error set). */
typedef struct {
  uint8_t *data;
  size_t length;
  int error;
} reader_event;

static void free_external(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void reader_call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  reader_event *event = data;
  if (env == NULL || callback == NULL) {
    /* Torn down before delivery (the process is exiting). */
    if (event != NULL) free(event->data);
    free(event);
    return;
  }
  napi_value argv[2], global, result;
  napi_get_global(env, &global);
  if (event->data != NULL) {
    /* The bytes were copied on the reader thread; hand them over without another copy. */
    if (napi_create_external_buffer(env, event->length, event->data, free_external, NULL, &argv[0]) != napi_ok) {
      napi_create_buffer_copy(env, event->length, event->data, NULL, &argv[0]);
      free(event->data);
    }
    napi_create_int32(env, 0, &argv[1]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, event->error, &argv[1]);
  }
  free(event);
  napi_call_function(env, global, callback, 2, argv, &result);
}

static void *reader_main(void *argument) {
  fuse_reader *reader = argument;
  uint8_t *buffer = malloc(reader->buffer_bytes);
  int end_error = buffer == NULL ? ENOMEM : 0;
  while (end_error == 0) {
    pthread_mutex_lock(&reader->lock);
    while (reader->credits <= 0) pthread_cond_wait(&reader->credit_available, &reader->lock);
    reader->credits--;
    pthread_mutex_unlock(&reader->lock);
    ssize_t got = read(reader->fd, buffer, reader->buffer_bytes);
    if (got < 0) {
      int error = errno;
      pthread_mutex_lock(&reader->lock);
      reader->credits++;
      pthread_mutex_unlock(&reader->lock);
      /* EINTR: a signal; ENOENT: the request was interrupted before we read it; EAGAIN: retry. */
      if (error == EINTR || error == ENOENT || error == EAGAIN) continue;
      end_error = error;
      break;
    }
    reader_event *event = malloc(sizeof *event);
    uint8_t *copy = malloc(got > 0 ? (size_t)got : 1);
    if (event == NULL || copy == NULL) {
      free(event);
      free(copy);
      end_error = ENOMEM;
      break;
    }
    memcpy(copy, buffer, (size_t)got);
    event->data = copy;
    event->length = (size_t)got;
    event->error = 0;
    if (napi_call_threadsafe_function(reader->tsfn, event, napi_tsfn_blocking) != napi_ok) {
      free(copy);
      free(event);
      end_error = ECANCELED;
      break;
    }
  }
  free(buffer);
  reader_event *event = malloc(sizeof *event);
  if (event != NULL) {
    event->data = NULL;
    event->length = 0;
    event->error = end_error;
    if (napi_call_threadsafe_function(reader->tsfn, event, napi_tsfn_blocking) != napi_ok) free(event);
  }
  napi_release_threadsafe_function(reader->tsfn, napi_tsfn_release);
  return NULL;
}

static fuse_reader *reader_of(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  napi_get_cb_info(env, info, argc, argv, &self, &data);
  return data;
}

static napi_value reader_credit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  fuse_reader *reader = reader_of(env, info, &argc, argv);
  int32_t count = 1;
  if (argc >= 1 && !get_int32(env, argv[0], &count)) return throw_type(env, "credit(count)");
  pthread_mutex_lock(&reader->lock);
  reader->credits += count;
  pthread_cond_signal(&reader->credit_available);
  pthread_mutex_unlock(&reader->lock);
  return NULL;
}

/* Lets the process exit while the reader still waits (ref false), or keeps it alive (ref true). */
static napi_value reader_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  fuse_reader *reader = reader_of(env, info, &argc, argv);
  bool ref = true;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &ref);
  if (ref) napi_ref_threadsafe_function(env, reader->tsfn);
  else napi_unref_threadsafe_function(env, reader->tsfn);
  return NULL;
}

/*
 * fuseReaderStart(fd, bufferBytes, credits, onRequest(buffer | null, errno)) -> { credit(n), ref(bool) }.
 * A thread reads whole requests from `fd` while it holds credits (one per request handed over;
 * credit(n) gives them back), and calls onRequest(null, errno) once when the session ends.
 */
static napi_value fuse_reader_start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, credits;
  int64_t buffer_bytes;
  if (argc < 4 || !get_int32(env, argv[0], &fd) || !get_int64(env, argv[1], &buffer_bytes) || !get_int32(env, argv[2], &credits) ||
      buffer_bytes < 8192 || buffer_bytes > (64 << 20) || credits < 1) {
    return throw_type(env, "fuseReaderStart(fd, bufferBytes >= 8192, credits >= 1, onRequest)");
  }
  fuse_reader *reader = calloc(1, sizeof *reader);
  if (reader == NULL) return throw_errno(env, ENOMEM, "fuseReaderStart");
  reader->fd = fd;
  reader->buffer_bytes = (size_t)buffer_bytes;
  reader->credits = credits;
  pthread_mutex_init(&reader->lock, NULL);
  pthread_cond_init(&reader->credit_available, NULL);
  napi_value name;
  napi_create_string_utf8(env, "fsraft.fuseReader", NAPI_AUTO_LENGTH, &name);
  /* Queue bound 64: past it the thread waits, so a stalled event loop holds few copies. */
  /*
   * No finalizer frees `reader`: at process exit the thread may still be blocked in read(2) on a
   * live mount, and would wake into freed memory. One small struct per session stays allocated.
   */
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 64, 1, NULL, NULL, NULL, reader_call_js, &reader->tsfn) != napi_ok) {
    pthread_mutex_destroy(&reader->lock);
    pthread_cond_destroy(&reader->credit_available);
    free(reader);
    return throw_errno(env, EINVAL, "fuseReaderStart: napi_create_threadsafe_function");
  }
  int error = pthread_create(&reader->thread, NULL, reader_main, reader);
  if (error != 0) {
    napi_release_threadsafe_function(reader->tsfn, napi_tsfn_abort);
    return throw_errno(env, error, "fuseReaderStart: pthread_create");
  }
  pthread_detach(reader->thread);
  napi_value handle, function;
  napi_create_object(env, &handle);
  napi_create_function(env, "credit", NAPI_AUTO_LENGTH, reader_credit, reader, &function);
  napi_set_named_property(env, handle, "credit", function);
  napi_create_function(env, "ref", NAPI_AUTO_LENGTH, reader_ref, reader, &function);
  napi_set_named_property(env, handle, "ref", function);
  return handle;
}

/* ---------- sparse files ---------- */

static napi_value seek_whence(napi_env env, napi_callback_info info, int whence, const char *what) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t offset;
  if (argc < 2 || !get_int32(env, argv[0], &fd) || !get_int64(env, argv[1], &offset)) return throw_type(env, "(fd, offset)");
  off_t result = lseek(fd, (off_t)offset, whence);
  napi_value value;
  if (result < 0) {
    /* ENXIO: no data (SEEK_DATA) or offset at or past the end: callers test for -1. */
    if (errno == ENXIO) {
      napi_create_int64(env, -1, &value);
      return value;
    }
    return throw_errno(env, errno, what);
  }
  napi_create_int64(env, (int64_t)result, &value);
  return value;
}

/* seekData(fd, offset) -> the next data offset at or after `offset`, or -1 (ENXIO). */
static napi_value seek_data(napi_env env, napi_callback_info info) {
  return seek_whence(env, info, SEEK_DATA, "lseek SEEK_DATA");
}

/* seekHole(fd, offset) -> the next hole offset at or after `offset` (the size at the end), or -1 (ENXIO). */
static napi_value seek_hole(napi_env env, napi_callback_info info) {
  return seek_whence(env, info, SEEK_HOLE, "lseek SEEK_HOLE");
}

/* fallocateFile(fd, mode, offset, length); throws with .code (EOPNOTSUPP...). */
static napi_value fallocate_file(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, mode;
  int64_t offset, length;
  if (argc < 4 || !get_int32(env, argv[0], &fd) || !get_int32(env, argv[1], &mode) || !get_int64(env, argv[2], &offset) ||
      !get_int64(env, argv[3], &length)) {
    return throw_type(env, "fallocate(fd, mode, offset, length)");
  }
  int result;
  do {
    result = fallocate(fd, mode, (off_t)offset, (off_t)length);
  } while (result != 0 && errno == EINTR);
  if (result != 0) return throw_errno(env, errno, "fallocate");
  return NULL;
}

/* syncfsFile(fd): syncfs(2) of the file system holding `fd`. */
static napi_value syncfs_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !get_int32(env, argv[0], &fd)) return throw_type(env, "syncfs(fd)");
  if (syncfs(fd) != 0) return throw_errno(env, errno, "syncfs");
  return NULL;
}

#if defined(__x86_64__)
/* CRC-32C (Castagnoli, reflected) of n bytes continuing from crc, with the SSE4.2 instruction. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
  uint64_t c = (uint32_t)~crc;
  while (n > 0 && ((uintptr_t)p & 7) != 0) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    n--;
  }
  return ~(uint32_t)c;
}

/* crc32c(bytes, crc): the CRC-32C of a Uint8Array continuing from crc (0 to start). */
static napi_value crc32c_bytes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_typed = false;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) return throw_type(env, "crc32c(bytes, crc)");
  napi_typedarray_type type;
  size_t length;
  void *data;
  uint32_t crc;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_uint32(env, argv[1], &crc) != napi_ok) {
    return throw_type(env, "crc32c(bytes, crc)");
  }
  napi_value result;
  napi_create_uint32(env, crc32c_sse42(crc, (const uint8_t *)data, length), &result);
  return result;
}
#endif

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"fuseMount", NULL, fuse_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fuseUnmount", NULL, fuse_unmount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fuseReaderStart", NULL, fuse_reader_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fallocate", NULL, fallocate_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"syncfs", NULL, syncfs_file, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
#if defined(__x86_64__)
  // Only where the CPU has the instruction; elsewhere the loader uses the portable version.
  if (__builtin_cpu_supports("sse4.2")) {
    napi_property_descriptor crc = {"crc32c", NULL, crc32c_bytes, NULL, NULL, NULL, napi_enumerable, NULL};
    napi_define_properties(env, exports, 1, &crc);
  }
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
