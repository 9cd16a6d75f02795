// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Content hashes for references to files (datasets, backbone weights), from OpenSSL's libcrypto.
#include <string>

namespace peft {

/// SHA-256 of a file's bytes, 64 lower-case hex digits. Throws peft::Error naming the file when it cannot be
/// read (or is not a regular file).
std::string sha256File(const std::string& path);
/// SHA-256 of `bytes`, hex.
std::string sha256Hex(const std::string& bytes);

}  // namespace peft
