// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Opening users' files safely: the file type is checked before anything reads it (a FIFO, a device or a
// folder in place of a file is named, never waited on), and whole-file reads are bounded in size.
#include <cstddef>
#include <cstdint>
#include <string>

namespace peft {

/// The largest file read whole into memory unless a caller says otherwise (1 GiB).
constexpr uint64_t kMaxWholeFileBytes = uint64_t(1) << 30;

/// What `path` is, in words ("a folder", "a FIFO (named pipe)", "a character device", …), or "" for a
/// regular file. Throws peft::Error naming the path when it does not exist or cannot be examined.
std::string nonRegularFileKind(const std::string& path);

/// Throws peft::Error "PATH: is a FIFO (named pipe), not a file" unless `path` is a regular file (links are
/// followed). `what` says what the file was meant to be ("the data file"), for "cannot open" messages.
void requireRegularFile(const std::string& path, const std::string& what = "file");

/// The whole content of a regular file of at most `maxBytes` bytes; errors name the path and the reason.
/// Opens without blocking (a FIFO swapped in between the check and the open is refused, not waited on).
std::string readFileBytes(const std::string& path, const std::string& what = "file",
                          uint64_t maxBytes = kMaxWholeFileBytes);

/// A regular file mapped read-only into memory (large weights files are read once, from the page cache).
/// Errors name the path; an empty file maps to no bytes. The mapping lives as long as the object.
class MappedFile {
public:
    MappedFile(const std::string& path, const std::string& what);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const char* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const char* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace peft
