/*
 * ft_lock.c - one daemon per state: an advisory lock file that a second
 * `fedtwin node run` on the same state directory, or a second coordinator
 * on the same database, finds taken, so it stops at start instead of
 * fighting the first over the connection, the ledger and the audit log.
 * The kernel drops the lock when the process dies (kill -9 included), so a
 * crash never leaves a stale lock behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ft_base.h"

int ft_lock_acquire(const char *path, int *fd_out, ft_errmsg *err)
{
	char pid[32];
	int fd, n;

	*fd_out = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ft_errmsg_set(err, FT_EIO, "%s: cannot open the lock file: %s", path,
		                     strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char other[32] = "";
		ssize_t got = pread(fd, other, sizeof(other) - 1, 0);

		close(fd);
		if (e == EWOULDBLOCK) {
			other[got > 0 ? got : 0] = '\0';
			other[strcspn(other, "\r\n")] = '\0';
			if (other[0] != '\0')
				return ft_errmsg_set(err, FT_EEXIST,
				                     "%s is held by another running daemon (pid %s): stop"
				                     " it first, or give this one its own state",
				                     path, other);
			return ft_errmsg_set(err, FT_EEXIST,
			                     "%s is held by another running daemon: stop it first, or"
			                     " give this one its own state",
			                     path);
		}
		return ft_errmsg_set(err, FT_EIO, "%s: cannot lock: %s", path, strerror(e));
	}
	/* The holder's pid, for the message above; best effort. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		/* The lock holds without it. */
	}
	*fd_out = fd;
	return FT_OK;
}

void ft_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
