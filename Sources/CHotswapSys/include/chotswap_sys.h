#ifndef CHOTSWAP_SYS_H
#define CHOTSWAP_SYS_H

#include <sys/types.h>

/// Spawns `file` (searched on PATH when it has no slash) in a new process group whose id is its pid,
/// with stdin/stdout/stderr on the given descriptors, every signal disposition reset to default and an
/// empty signal mask, every other descriptor closed, optionally in `cwd`. Returns 0 and sets *pid, or an errno value.
int hotswap_spawn(const char *file, char *const argv[], char *const envp[], const char *cwd, int in_fd,
                  int out_fd, int err_fd, pid_t *pid);

/// Reads SO_PEERCRED of a connected Unix socket. Returns 0 or an errno value.
int hotswap_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Creates a pipe with O_CLOEXEC on both ends. Returns 0 or an errno value.
int hotswap_pipe_cloexec(int fds[2]);

/// Asks for a pipe buffer of `size` bytes (F_SETPIPE_SZ); the kernel may give less. Returns the size or -1.
int hotswap_pipe_resize(int fd, int size);

/// Marks the process undumpable (PR_SET_DUMPABLE 0): its /proc files become root's, so another process of the
/// same user (in a shared PID namespace) cannot read its memory or its files through /proc/PID/root.
/// Returns 0 or an errno value.
int hotswap_set_undumpable(void);

#endif
