/**
 * The part of the `nanomsg` package (4.x, CommonJS, no bundled types) that NanomsgTransport
 * uses: the raw native bindings, which expose nanomsg's C API almost one to one. We use them
 * instead of the package's stream Socket because its send() queues without bound in JavaScript
 * when a peer is down, and its receive path reads one message per event-loop turn.
 */
declare module 'nanomsg' {
  // A namespace merged with the exported value, so that `export =` can carry types too.
  namespace nanomsg {
    /** An opaque handle for one libuv poll on a nanomsg socket; valid until passed to PollStop. */
    type PollHandle = { readonly __nanomsgPollHandle: unique symbol };

    /** The native module: nn_* functions. Functions return -1 on error; see Errno()/Err(). */
    interface NanomsgBindings {
      /** nn_socket(domain, protocol): a socket number, or -1. */
      Socket(domain: number, protocol: number): number;
      /** nn_close(socket): 0, or -1. Blocks until the socket's endpoints are shut down. */
      Close(socket: number): number;
      /** nn_setsockopt with an int option value: 0, or -1. */
      Setopt(socket: number, level: number, option: number, value: number): number;
      /** nn_getsockopt for int options; undefined on failure. */
      Getopt(socket: number, level: number, option: number): number | undefined;
      /** nn_bind(socket, url): an endpoint id, or -1. TCP binds fail synchronously (EADDRINUSE). */
      Bind(socket: number, url: string): number;
      /** nn_connect(socket, url): an endpoint id, or -1. Connecting itself happens in the background. */
      Connect(socket: number, url: string): number;
      /** nn_send(socket, bytes, flags): bytes sent, or -1 (EAGAIN with NN_DONTWAIT when it would block). */
      Send(socket: number, message: Buffer, flags: number): number;
      /** nn_recv(socket, flags): a Buffer owning the message, or -1 (EAGAIN with NN_DONTWAIT). */
      Recv(socket: number, flags: number): Buffer | number;
      /** nn_errno(): the error number of the last failed call on this thread. */
      Errno(): number;
      /** nn_strerror(nn_errno()). */
      Err(): string;
      /** Polls the socket's NN_SNDFD (sender = true) or NN_RCVFD and calls back while it is ready. */
      PollSocket(socket: number, sender: boolean, callback: (events: number) => void): PollHandle;
      /** Stops and frees a poll; the handle must not be used again. */
      PollStop(handle: PollHandle): void;

      readonly AF_SP: number;
      readonly NN_PUSH: number;
      readonly NN_PULL: number;
      readonly NN_SOL_SOCKET: number;
      readonly NN_LINGER: number;
      readonly NN_SNDBUF: number;
      readonly NN_RCVBUF: number;
      readonly NN_RCVMAXSIZE: number;
      readonly NN_SNDTIMEO: number;
      readonly NN_RECONNECT_IVL: number;
      readonly NN_RECONNECT_IVL_MAX: number;
      readonly NN_TCP: number;
      readonly NN_TCP_NODELAY: number;
      readonly NN_DONTWAIT: number;
      readonly EAGAIN: number;
      readonly EINTR: number;
    }
  }

  const nanomsg: {
    /** The native bindings (exported by the package as `_bindings`). */
    readonly _bindings: nanomsg.NanomsgBindings;
  };
  export = nanomsg;
}
