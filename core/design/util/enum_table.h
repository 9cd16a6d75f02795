// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// One table per enum: each value with the one name it is written as (JSON, the project file, the CLI) and
// read back from. Reading an unknown name is a peft::Error that lists the names allowed.
#include <cstddef>
#include <string>

#include "util/error.h"

namespace peft {

template <class E>
struct EnumName {
    E value;
    const char* name;
};

/// The name of `v` in `table` ("?" for a value the table lacks, which a test rules out for every table).
template <class E, size_t N>
const char* enumName(const EnumName<E> (&table)[N], E v) {
    for (const auto& e : table)
        if (e.value == v) return e.name;
    return "?";
}

/// "a, b or c": the names of `table`, for messages.
template <class E, size_t N>
std::string enumNames(const EnumName<E> (&table)[N]) {
    std::string s;
    for (size_t i = 0; i < N; ++i)
        s += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + table[i].name;
    return s;
}

/// The value named `name`; an unknown name throws Error(where, "unknown WHAT 'x' (expected …)").
template <class E, size_t N>
E enumFromName(const EnumName<E> (&table)[N], const std::string& name, const std::string& where,
               const char* what) {
    for (const auto& e : table)
        if (name == e.name) return e.value;
    throw Error(where,
                std::string("unknown ") + what + " '" + name + "' (expected " + enumNames(table) + ")");
}

}  // namespace peft
