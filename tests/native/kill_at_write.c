/* Preloaded into a writer child by tests/test_kill_every_write.py: once armed with
 * kill_at_write_arm(k), the process kills itself (SIGKILL) instead of making its k-th write to
 * a regular file (write, pwrite, ftruncate), so that a test can stop a writer between any two
 * of its writes. kill_at_write_count() tells how many such writes were made since arming. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long armed_at = -1, count = 0;

void kill_at_write_arm(long k) { count = 0; armed_at = k; }
long kill_at_write_count(void) { return count; }

static void before_write(int fd) {
  struct stat st;
  if (armed_at < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  if (++count == armed_at) raise(SIGKILL);
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*ftruncate_fn)(int, off_t);
#define REAL(name, type) static type real; if (!real) real = (type)dlsym(RTLD_NEXT, name)

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  REAL("pwrite64", pwrite_fn);
  before_write(fd); return real(fd, buf, n, off);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL("pwrite", pwrite_fn);
  before_write(fd); return real(fd, buf, n, off);
}
ssize_t write(int fd, const void *buf, size_t n) {
  REAL("write", write_fn);
  before_write(fd); return real(fd, buf, n);
}
int ftruncate(int fd, off_t len) {
  REAL("ftruncate", ftruncate_fn);
  before_write(fd); return real(fd, len);
}
int ftruncate64(int fd, off_t len) {
  REAL("ftruncate64", ftruncate_fn);
  before_write(fd); return real(fd, len);
}
