// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/files.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

namespace peft {

namespace {

std::string kindOf(mode_t mode) {
    if (S_ISREG(mode)) return "";
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string sizeText(uint64_t bytes) {
    if (bytes >= (uint64_t(1) << 30)) return std::to_string(bytes >> 30) + " GiB";
    if (bytes >= (uint64_t(1) << 20)) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

/// An open descriptor of a regular file, or an error naming what the path is instead.
int openRegular(const std::string& path, const std::string& what, struct stat& st) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT) throw Error(path, "no such file (expected " + what + ")");
        if (e == EISDIR) throw Error(path, "is a folder, not " + what);
        throw Error(path, "cannot open " + what + ": " + std::strerror(e));
    }
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error(path, "cannot examine " + what + ": " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path, "is " + kindOf(st.st_mode) + ", not " + what);
    }
    return fd;
}

}  // namespace

std::string nonRegularFileKind(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        const int e = errno;
        throw Error(path, e == ENOENT ? std::string("no such file") : std::strerror(e));
    }
    return kindOf(st.st_mode);
}

void requireRegularFile(const std::string& path, const std::string& what) {
    struct stat st {};
    ::close(openRegular(path, what, st));
}

std::string readFileBytes(const std::string& path, const std::string& what, uint64_t maxBytes) {
    struct stat st {};
    const int fd = openRegular(path, what, st);
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size > maxBytes) {
        ::close(fd);
        throw Error(path, what + " of " + sizeText(size) + " is larger than the " + sizeText(maxBytes) +
                              " this reader accepts");
    }
    std::string out;
    out.resize(static_cast<size_t>(size));
    size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            throw Error(path, "cannot read " + what + ": " + std::strerror(e));
        }
        if (n == 0) break;  // the file shrank while we read it
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

MappedFile::MappedFile(const std::string& path, const std::string& what) {
    struct stat st {};
    const int fd = openRegular(path, what, st);
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        return;
    }
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw Error(path, "cannot map " + what + ": " + std::strerror(e));
    data_ = static_cast<const char*>(map);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace peft
