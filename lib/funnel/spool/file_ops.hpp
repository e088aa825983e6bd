#pragma once
// The system calls through which the spool changes its files' contents, behind a small
// interface so that tests can make a write fail (ENOSPC after so many bytes, EIO) without
// filling a real disk. The spool uses plain POSIX calls for everything else (open, pread,
// ftruncate, unlink), whose failures it reports the same way.
//
// Thread-safety: system() is stateless; a test's subclass is used by one spool at a time.

#include <sys/types.h>
#include <sys/uio.h>

namespace funnel::spool {

class file_ops {
public:
    virtual ~file_ops() = default;
    // As writev(2) and fdatasync(2): a count or -1 with errno set.
    virtual ssize_t writev(int fd, const iovec* iov, int count);
    virtual int fdatasync(int fd);

    // The real system calls.
    static file_ops& system();
};

} // namespace funnel::spool
