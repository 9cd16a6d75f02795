// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/hash.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "util/error.h"
#include "util/files.h"

namespace peft {

namespace {

/// One EVP digest context, freed on every path.
class Sha256 {
public:
    explicit Sha256(const std::string& where) : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free), where_(where) {
        if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
            throw Error(where_, "SHA-256 is not available from libcrypto");
    }
    void update(const char* data, size_t n) {
        if (n && EVP_DigestUpdate(ctx_.get(), data, n) != 1) throw Error(where_, "SHA-256 update failed");
    }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error(where_, "SHA-256 failed");
        static const char* const digits = "0123456789abcdef";
        std::string out;
        out.reserve(2 * len);
        for (unsigned int i = 0; i < len; ++i) {
            out += digits[md[i] >> 4];
            out += digits[md[i] & 15];
        }
        return out;
    }

private:
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
    std::string where_;
};

}  // namespace

std::string sha256File(const std::string& path) {
    requireRegularFile(path, "file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "cannot read");
    Sha256 sha(path);
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        sha.update(buf.data(), size_t(in.gcount()));
    }
    if (in.bad()) throw Error(path, "read error while hashing");
    return sha.hex();
}

std::string sha256Hex(const std::string& bytes) {
    Sha256 sha("SHA-256");
    sha.update(bytes.data(), bytes.size());
    return sha.hex();
}

}  // namespace peft
