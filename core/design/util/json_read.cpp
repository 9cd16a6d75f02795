// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/json_read.h"

#include <limits>
#include <unordered_set>

#include "util/files.h"

namespace peft {

namespace {

/// "LINE:COLUMN" of a byte offset.
std::string positionOf(std::string_view text, size_t offset) {
    int64_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return std::to_string(line) + ":" + std::to_string(col);
}

/// Refuses nesting deeper than kMaxJsonDepth in one linear pass, before the parser builds anything (a
/// value nested 200,000 levels deep would overflow the stack of any recursive copy, dump or destructor).
void checkDepth(std::string_view text, const std::string& source) {
    int depth = 0;
    bool inString = false, escaped = false;
    int64_t line = 1;
    for (const char c : text) {
        if (c == '\n') ++line;
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth)
                throw Error(source + ":" + std::to_string(line),
                            "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

/// "[json.exception.parse_error.101] parse error at line 1, …" → "parse error at line 1, …".
std::string withoutTag(const char* what) {
    std::string s = what;
    if (!s.empty() && s[0] == '[') {
        const size_t close = s.find("] ");
        if (close != std::string::npos) s.erase(0, close + 2);
    }
    return s;
}

/// Nlohmann's DOM builder behind a SAX interface that refuses a key given twice in one object. (The
/// parser-callback route would do the same, but its builder rescans the parent container at every closed
/// value: quadratic in the length of an array.)
template <typename Json>
class NoDuplicateKeys {
public:
    using number_integer_t = typename Json::number_integer_t;
    using number_unsigned_t = typename Json::number_unsigned_t;
    using number_float_t = typename Json::number_float_t;
    using string_t = typename Json::string_t;
    using binary_t = typename Json::binary_t;

    NoDuplicateKeys(Json& out, std::string source) : dom_(out, true), source_(std::move(source)) {}

    bool null() { return dom_.null(); }
    bool boolean(bool v) { return dom_.boolean(v); }
    bool number_integer(number_integer_t v) { return dom_.number_integer(v); }
    bool number_unsigned(number_unsigned_t v) { return dom_.number_unsigned(v); }
    bool number_float(number_float_t v, const string_t& s) { return dom_.number_float(v, s); }
    bool string(string_t& v) { return dom_.string(v); }
    bool binary(binary_t& v) { return dom_.binary(v); }
    bool start_object(std::size_t n) {
        keys_.emplace_back();
        return dom_.start_object(n);
    }
    bool key(string_t& k) {
        if (!keys_.back().insert(k).second)
            throw Error(source_, "key '" + k.substr(0, 80) + "' appears twice in the same object");
        return dom_.key(k);
    }
    bool end_object() {
        keys_.pop_back();
        return dom_.end_object();
    }
    bool start_array(std::size_t n) { return dom_.start_array(n); }
    bool end_array() { return dom_.end_array(); }
    template <typename Exception>
    bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
        return dom_.parse_error(position, token, ex);
    }

private:
    nlohmann::detail::json_sax_dom_parser<Json> dom_;
    std::string source_;
    std::vector<std::unordered_set<std::string>> keys_;
};

template <typename Json>
Json parseChecked(std::string_view text, const std::string& source) {
    checkDepth(text, source);
    Json out;
    NoDuplicateKeys<Json> sax(out, source);
    try {
        Json::sax_parse(text.begin(), text.end(), &sax);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(source + ":" + positionOf(text, e.byte > 0 ? e.byte - 1 : 0),
                    "invalid JSON: " + withoutTag(e.what()));
    } catch (const nlohmann::json::exception& e) {
        throw Error(source, "invalid JSON: " + withoutTag(e.what()));
    }
    return out;
}

}  // namespace

nlohmann::json parseJson(std::string_view text, const std::string& source) {
    return parseChecked<nlohmann::json>(text, source);
}

nlohmann::ordered_json parseOrderedJson(std::string_view text, const std::string& source) {
    return parseChecked<nlohmann::ordered_json>(text, source);
}

nlohmann::json readJsonFile(const std::string& path, uint64_t maxBytes) {
    return parseJson(readFileBytes(path, "a JSON file", maxBytes), path);
}

// ----- JsonFields ---------------------------------------------------------------------------------------

JsonFields::JsonFields(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {
    if (!j_.is_object()) throw Error(source_, "must be a JSON object, got " + JsonReader::typeName(j_));
}

bool JsonFields::has(const std::string& key) const {
    const auto it = j_.find(key);
    return it != j_.end() && !it->is_null();
}

int64_t JsonFields::integerValue(const nlohmann::json& v, const std::string& where) {
    if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
            throw Error(where, v.dump() + " is too large");
        return v.get<int64_t>();
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d)) throw Error(where, "must be a finite integer");
        if (d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    throw Error(where, "must be an integer, got " + JsonReader::typeName(v) + " " + v.dump().substr(0, 60));
}

double JsonFields::numberValue(const nlohmann::json& v, const std::string& where) {
    if (!v.is_number()) throw Error(where, "must be a number, got " + JsonReader::typeName(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw Error(where, "must be a finite number");
    return d;
}

namespace {

/// A field read by `read`, or its fallback when absent (no fallback: an error "missing").
template <typename T, typename Read>
T fieldOr(const JsonFields& f, const std::string& key, const std::optional<T>& fallback, Read read) {
    if (f.has(key)) return read(f.json().at(key), f.where(key));
    if (fallback) return *fallback;
    throw Error(f.where(key), "missing");
}

}  // namespace

int64_t JsonFields::integer(const std::string& key, std::optional<int64_t> fallback) const {
    return fieldOr(*this, key, fallback, integerValue);
}

double JsonFields::number(const std::string& key, std::optional<double> fallback) const {
    return fieldOr(*this, key, fallback, numberValue);
}

std::string JsonFields::text(const std::string& key, std::optional<std::string> fallback) const {
    return fieldOr(*this, key, fallback, [](const nlohmann::json& v, const std::string& where) {
        if (!v.is_string()) throw Error(where, "must be a string, got " + JsonReader::typeName(v));
        return v.get<std::string>();
    });
}

bool JsonFields::flag(const std::string& key, std::optional<bool> fallback) const {
    return fieldOr(*this, key, fallback, [](const nlohmann::json& v, const std::string& where) {
        if (!v.is_boolean()) throw Error(where, "must be true or false, got " + JsonReader::typeName(v));
        return v.get<bool>();
    });
}

/// The value of `key` when it holds the kind `is` accepts; absent: `empty`.
static const nlohmann::json& structured(const JsonFields& f, const std::string& key,
                                        const nlohmann::json& empty,
                                        bool (nlohmann::json::*is)() const noexcept, const char* kind) {
    if (!f.has(key)) return empty;
    const auto& v = f.json().at(key);
    if (!(v.*is)())
        throw Error(f.where(key), std::string("must be ") + kind + ", got " + JsonReader::typeName(v));
    return v;
}

const nlohmann::json& JsonFields::object(const std::string& key) const {
    static const nlohmann::json empty = nlohmann::json::object();
    return structured(*this, key, empty, &nlohmann::json::is_object, "an object");
}

const nlohmann::json& JsonFields::array(const std::string& key) const {
    static const nlohmann::json empty = nlohmann::json::array();
    return structured(*this, key, empty, &nlohmann::json::is_array, "an array");
}

}  // namespace peft
